//! The Hugging Face cache's layout (`models--owner--repo/{blobs,snapshots,refs}`), the shards
//! of a split GGUF, and which file a URI names.

use std::path::{Path, PathBuf};

use super::uri::{valid_name, Target};
use crate::error::{ErrorCode, RerankError, Result};

/// A model repository's folder in the cache: `models--owner--repo`, as `huggingface_hub`
/// names it.
pub(super) fn repo_folder(cache_dir: &Path, repo: &str) -> PathBuf {
    cache_dir.join(format!("models--{}", repo.replace('/', "--")))
}

/// A full commit hash, which names a snapshot directly (no `refs/` file).
pub(super) fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The snapshot directory a revision points at in the cache, if any: `snapshots/<commit>`,
/// where `refs/<revision>` holds the commit (a commit hash is its own snapshot).
pub(super) fn cached_snapshot(folder: &Path, revision: &str) -> Option<PathBuf> {
    let commit = if is_commit(revision) {
        revision.to_ascii_lowercase()
    } else {
        std::fs::read_to_string(folder.join("refs").join(revision))
            .ok()?
            .trim()
            .to_string()
    };
    if !valid_name(&commit) {
        return None;
    }
    let dir = folder.join("snapshots").join(commit);
    dir.is_dir().then_some(dir)
}

/// The files of a cached snapshot, as repository paths.
pub(super) fn snapshot_files(root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                if let Ok(rel) = path.strip_prefix(root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

pub(super) fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `model-00002-of-00003.gguf` → (`model`, 2, 3): a shard of a split GGUF, named the way
/// `llama-gguf-split` names them and llama.cpp finds them.
pub(super) fn split_shard(name: &str) -> Option<(&str, u32, u32)> {
    let stem = name
        .strip_suffix(".gguf")
        .or_else(|| name.strip_suffix(".GGUF"))?;
    let (head, count) = stem.rsplit_once("-of-")?;
    let (prefix, no) = head.rsplit_once('-')?;
    let digits = |s: &str| s.len() == 5 && s.bytes().all(|c| c.is_ascii_digit());
    if !digits(no) || !digits(count) || prefix.is_empty() {
        return None;
    }
    let (no, count) = (no.parse().ok()?, count.parse().ok()?);
    (1..=count).contains(&no).then_some((prefix, no, count))
}

/// The files to fetch for `file`: itself, or, for a shard of a split GGUF, every shard, the
/// first one first.
pub(super) fn shards_of(file: &str) -> Vec<String> {
    match split_shard(file) {
        Some((prefix, _, count)) => (1..=count)
            .map(|i| format!("{prefix}-{i:05}-of-{count:05}.gguf"))
            .collect(),
        None => vec![file.to_string()],
    }
}

/// Picks the `.gguf` file a quant (or no target) names among a repository's files. The shards
/// of a split GGUF count as one file, named by its first shard.
pub fn pick(files: &[String], target: &Target) -> Result<String> {
    let mut ggufs: Vec<String> = files
        .iter()
        .filter(|f| {
            let name = basename(f).to_ascii_lowercase();
            name.ends_with(".gguf") && !name.contains("mmproj")
        })
        .map(|f| shards_of(f).swap_remove(0))
        .collect();
    ggufs.sort();
    ggufs.dedup();
    let listing = || {
        if ggufs.is_empty() {
            "it has no .gguf file".to_string()
        } else {
            format!("its .gguf files: {}", ggufs.join(", "))
        }
    };
    let chosen: Vec<&String> = match target {
        Target::File(file) => return Ok(file.clone()),
        Target::Only => ggufs.iter().collect(),
        Target::Quant(quant) => {
            let q = quant.to_ascii_lowercase();
            // A split set's name without its `-00001-of-0000N` suffix.
            let name_of = |f: &str| {
                let base = basename(f);
                match split_shard(base) {
                    Some((prefix, _, _)) => format!("{prefix}.gguf"),
                    None => base.to_string(),
                }
                .to_ascii_lowercase()
            };
            let loose: Vec<&String> = ggufs.iter().filter(|f| name_of(f).contains(&q)).collect();
            if loose.len() <= 1 {
                loose
            } else {
                // `Q4_K` names `x-Q4_K.gguf`, not `x-Q4_K_M.gguf`.
                let tight: Vec<&String> = loose
                    .iter()
                    .copied()
                    .filter(|f| {
                        let name = name_of(f);
                        name.match_indices(&q).any(|(at, _)| {
                            let before = name[..at].chars().next_back();
                            let after = name[at + q.len()..].chars().next();
                            before.is_none_or(|c| !c.is_ascii_alphanumeric())
                                && after.is_none_or(|c| c == '.' || c == '-')
                        })
                    })
                    .collect();
                if tight.is_empty() {
                    loose
                } else {
                    tight
                }
            }
        }
    };
    match chosen.as_slice() {
        [one] => Ok((*one).clone()),
        [] => Err(RerankError::new(
            ErrorCode::ModelNotFound,
            match target {
                Target::Quant(q) => format!("no .gguf file matches the quant {q:?}; {}", listing()),
                _ => format!("the repository has no .gguf file; {}", listing()),
            },
        )),
        many => Err(RerankError::invalid(format!(
            "several files match ({}); name one with hf:<owner>/<repo>/<file.gguf>",
            many.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ))),
    }
}

/// `snapshots/<commit>/<file>` → `../../blobs/<etag>` (a relative link, as `huggingface_hub`
/// makes; a copy where links cannot be made).
pub(super) fn link_blob(blob: &Path, pointer: &Path, file: &str) -> std::io::Result<()> {
    if pointer.exists() {
        return Ok(());
    }
    let _ = std::fs::remove_file(pointer); // a dangling link
    let mut target = PathBuf::new();
    for _ in 0..file.split('/').count() + 1 {
        target.push("..");
    }
    target.push("blobs");
    target.push(blob.file_name().unwrap_or_default());
    #[cfg(unix)]
    let linked = std::os::unix::fs::symlink(&target, pointer);
    #[cfg(windows)]
    let linked = std::os::windows::fs::symlink_file(&target, pointer);
    #[cfg(not(any(unix, windows)))]
    let linked: std::io::Result<()> = Err(std::io::Error::other("no links"));
    match linked {
        Ok(()) => Ok(()),
        Err(_) if pointer.exists() => Ok(()), // made by another process meanwhile
        Err(_) => std::fs::copy(blob, pointer).map(|_| ()),
    }
}
