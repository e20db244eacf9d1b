//! The model layer: reading a GGUF file's header (split files included) and what it says
//! about the model, without llama.cpp.

pub mod gguf;
pub mod inspection;

use std::path::Path;

use crate::error::{ErrorCode, RerankError, Result};
pub use gguf::{GgufError, GgufHeader};
pub use inspection::ModelInspection;

/// Reads and validates a file's header, mapping failures to stable codes.
pub fn inspect_file(path: &Path) -> Result<(GgufHeader, ModelInspection)> {
    let display = path.display();
    match std::fs::metadata(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(RerankError::new(
                ErrorCode::ModelNotFound,
                format!("model file not found: {display}"),
            ))
        }
        Ok(m) if m.is_dir() => {
            return Err(RerankError::new(
                ErrorCode::ModelLoad,
                format!("{display} is a directory, not a model file"),
            ))
        }
        _ => {}
    }
    let header = GgufHeader::read(path).map_err(|e| {
        let code = match &e {
            GgufError::NotGguf => ErrorCode::NotGguf,
            GgufError::Corrupt(_) | GgufError::UnsupportedVersion(_) => ErrorCode::ModelCorrupt,
            GgufError::Io(_) => ErrorCode::ModelLoad,
        };
        RerankError::new(code, format!("cannot load {display}")).caused_by(&e)
    })?;
    let inspection = ModelInspection::from_header(&header).map_err(|why| {
        RerankError::new(ErrorCode::ModelCorrupt, format!("cannot load {display}")).with_cause(why)
    })?;
    Ok((header, inspection))
}
