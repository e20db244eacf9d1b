//! `hf:` URIs: `hf:<owner>/<repo>[@<revision>]/<file.gguf>`, `hf:<owner>/<repo>[@<revision>]:<quant>`
//! and `hf:<owner>/<repo>[@<revision>]`.

use crate::error::{RerankError, Result};

/// The prefix that marks a model URI.
pub const SCHEME: &str = "hf:";

const DEFAULT_REVISION: &str = "main";

/// Which file of the repository a URI names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A path inside the repository.
    File(String),
    /// The `.gguf` file whose name contains this quantization, e.g. `Q8_0`.
    Quant(String),
    /// The repository's only `.gguf` file.
    Only,
}

/// A parsed `hf:` URI.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubUri {
    /// `owner/repo`.
    pub repo: String,
    /// A branch, tag or commit; `None` is `main`.
    pub revision: Option<String>,
    pub target: Target,
}

impl HubUri {
    /// The revision asked for, `main` when none was.
    pub fn revision(&self) -> &str {
        self.revision.as_deref().unwrap_or(DEFAULT_REVISION)
    }

    pub(super) fn repo_with_revision(&self) -> String {
        match &self.revision {
            Some(rev) => format!("{}@{rev}", self.repo),
            None => self.repo.clone(),
        }
    }

    /// The URI of one file of this repository and revision.
    pub(super) fn file_uri(&self, file: &str) -> String {
        format!("{SCHEME}{}/{file}", self.repo_with_revision())
    }
}

impl std::fmt::Display for HubUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let repo = self.repo_with_revision();
        match &self.target {
            Target::File(file) => write!(f, "{SCHEME}{repo}/{file}"),
            Target::Quant(q) => write!(f, "{SCHEME}{repo}:{q}"),
            Target::Only => write!(f, "{SCHEME}{repo}"),
        }
    }
}

/// Whether `model` is a hub URI rather than a plain path.
pub fn is_hub_uri(model: &str) -> bool {
    model.starts_with(SCHEME)
}

pub(super) fn valid_name(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses `hf:owner/repo[@rev]/path/file.gguf`, `hf:owner/repo[@rev]:QUANT` or
/// `hf:owner/repo[@rev]`.
pub fn parse(uri: &str) -> Result<HubUri> {
    let bad = |why: &str| {
        RerankError::invalid(format!(
            "{uri:?} is not a model URI ({why}); expected hf:<owner>/<repo>[@<revision>]/<file.gguf> or hf:<owner>/<repo>[@<revision>]:<quant>"
        ))
    };
    let rest = uri
        .strip_prefix(SCHEME)
        .ok_or_else(|| bad("no hf: prefix"))?;
    let rest = rest.strip_prefix("//").unwrap_or(rest);
    let parts: Vec<&str> = rest.split('/').collect();
    if parts.len() < 2 {
        return Err(bad("no repository"));
    }
    let owner = parts[0];
    if !valid_name(owner) {
        return Err(bad("bad owner name"));
    }
    // `name[@revision][:quant]`; a quant only when no file path follows.
    let (name, quant) = match parts[1].split_once(':') {
        Some((name, quant)) => (name, Some(quant)),
        None => (parts[1], None),
    };
    let (name, revision) = match name.split_once('@') {
        Some((name, rev)) if valid_name(rev) => (name, Some(rev.to_string())),
        Some(_) => return Err(bad("bad revision")),
        None => (name, None),
    };
    if !valid_name(name) {
        return Err(bad("bad repository name"));
    }
    let repo = format!("{owner}/{name}");
    if parts.len() == 2 {
        let target = match quant {
            None => Target::Only,
            Some(q) if valid_name(q) => Target::Quant(q.to_string()),
            Some(_) => return Err(bad("bad quant")),
        };
        return Ok(HubUri {
            repo,
            revision,
            target,
        });
    }
    if quant.is_some() {
        return Err(bad("a quant and a file path"));
    }
    let file = &parts[2..];
    if file
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['\\', ':']))
    {
        return Err(bad("bad file path"));
    }
    Ok(HubUri {
        repo,
        revision,
        target: Target::File(file.join("/")),
    })
}
