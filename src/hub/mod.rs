//! `hf:` model URIs: `hf:<owner>/<repo>[@<revision>]/<file.gguf>`,
//! `hf:<owner>/<repo>[@<revision>]:<quant>` and `hf:<owner>/<repo>[@<revision>]`.
//!
//! A URI resolves to a file in the standard Hugging Face cache
//! (`<cache>/models--owner--repo/{blobs,snapshots,refs}`, the layout `huggingface_hub` uses),
//! downloaded once. The download is done here on `ureq`: the `hf-hub` crate's blocking client
//! can neither be stopped nor time out a stalled connection, and its file lock gives up after
//! 5 s. What this module does: the `HF_HUB_CACHE`/`HF_TOKEN`/
//! `HF_HUB_OFFLINE` variables, a cache-first lookup that makes no request, revisions, quant
//! selection, split GGUFs (every shard is fetched), a `Range` resume of the `.part` file, a
//! download that an abort stops and a stall times out, a wait for another process that
//! downloads the same file, size and sha256 checks, and errors with stable codes.
//!
//! Anything that does not start with `hf:` is a plain path and never touches the network.
//!
//! The module follows a resolution's steps: `uri` parses, `settings` reads the environment,
//! `cache` knows the cache's layout and picks a file, `client` talks to the hub and downloads,
//! `download` makes that stoppable and guards one download of a file with a lock.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use crate::error::{ErrorCode, RerankError, Result};

mod cache;
mod client;
mod download;
mod settings;
mod uri;

pub use cache::pick;
pub use settings::{HubSettings, DEFAULT_TIMEOUT_SECS, ENV_NAMES};
pub use uri::{is_hub_uri, parse, HubUri, Target, SCHEME};

use cache::{cached_snapshot, repo_folder, shards_of, snapshot_files};
use client::Client;
use download::run_stoppable;

/// A plain path as is; a `hf:` URI as the cached file, downloaded first when missing. Setting
/// `abort` stops a download in flight: the call returns `ABORT_ERR` at once and the partial
/// file stays to be resumed.
pub fn resolve_model(model: &str, settings: &HubSettings, abort: &AtomicBool) -> Result<PathBuf> {
    if !is_hub_uri(model) {
        return Ok(PathBuf::from(model));
    }
    resolve(&parse(model)?, settings, abort)
}

/// Resolves a parsed URI to a local file: the cached one when present, else downloaded. A
/// split GGUF resolves to its first shard, with every shard beside it.
pub fn resolve(uri: &HubUri, settings: &HubSettings, abort: &AtomicBool) -> Result<PathBuf> {
    let folder = repo_folder(&settings.cache_dir, &uri.repo);
    let snapshot = cached_snapshot(&folder, uri.revision());
    // The cache first: a file (every shard of a split one) in the snapshot the revision
    // points at is used without a request.
    let local = match &uri.target {
        Target::File(file) => Ok(file.clone()),
        target => pick(
            &snapshot.as_deref().map(snapshot_files).unwrap_or_default(),
            target,
        ),
    };
    if let (Ok(file), Some(snapshot)) = (&local, &snapshot) {
        let files = shards_of(file);
        if files.iter().all(|f| snapshot.join(f).is_file()) {
            return Ok(snapshot.join(&files[0]));
        }
    }
    if settings.offline {
        return Err(offline_error(uri, settings));
    }
    if abort.load(Ordering::Acquire) {
        return Err(RerankError::aborted());
    }
    let timeout = settings.timeout.clone().map_err(RerankError::invalid)?;
    let (uri, settings) = (uri.clone(), settings.clone());
    let what = uri.to_string();
    let endpoint = settings.endpoint.clone();
    run_stoppable(abort, timeout, &what, &endpoint, move |control| {
        let client = Client::new(&settings, timeout);
        let file = match (&uri.target, local) {
            (Target::File(file), _) => file.clone(),
            // Picked from the cached snapshot: the same file, not all of it there yet.
            (_, Ok(file)) => file,
            (target, Err(_)) => pick(&client.list_files(&uri, control)?, target)
                .map_err(|e| RerankError::new(e.code, format!("{uri}: {}", e.message)))?,
        };
        let mut first = None;
        for shard in shards_of(&file) {
            let path = client.fetch(&uri, &shard, control)?;
            first.get_or_insert(path);
        }
        Ok(first.expect("a file has at least one shard"))
    })
}

fn offline_error(uri: &HubUri, settings: &HubSettings) -> RerankError {
    RerankError::new(
        ErrorCode::HubOffline,
        format!(
            "{uri} is not in the Hugging Face cache ({}) and HF_HUB_OFFLINE is set; unset it to download the file",
            settings.cache_dir.display()
        ),
    )
}

#[cfg(test)]
mod tests;
