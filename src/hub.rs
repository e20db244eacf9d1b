//! `hf:` model URIs: `hf:<owner>/<repo>/<file.gguf>` and `hf:<owner>/<repo>:<quant>`.
//!
//! A URI resolves to a file in the standard Hugging Face cache
//! (`<cache>/models--owner--repo/{blobs,snapshots,refs}`), downloaded once. The download
//! itself (metadata request, `Range` resume of a `.part` file, blob/snapshot/ref layout,
//! file lock) is the `hf-hub` crate's. This module adds what that client lacks: the
//! `HF_HUB_CACHE`/`HF_TOKEN`/`HF_HUB_OFFLINE` variables, a cache-first lookup that makes
//! no request, quant selection, size and sha256 checks, and errors with stable codes.
//!
//! Anything that does not start with `hf:` is a plain path and never touches the network.

use std::collections::HashMap;
use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};

use hf_hub::api::sync::{ApiBuilder, ApiError};
use hf_hub::api::Progress;
use hf_hub::{Cache, Repo};
use indicatif::{HumanBytes, ProgressBar, ProgressDrawTarget, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, RerankError, Result};

/// The prefix that marks a model URI.
pub const SCHEME: &str = "hf:";

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
const REVISION: &str = "main";
/// Attempts after a cut connection within one call; each resumes where the last stopped.
const RETRIES: usize = 3;

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
    pub target: Target,
}

impl std::fmt::Display for HubUri {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.target {
            Target::File(file) => write!(f, "{SCHEME}{}/{file}", self.repo),
            Target::Quant(q) => write!(f, "{SCHEME}{}:{q}", self.repo),
            Target::Only => write!(f, "{SCHEME}{}", self.repo),
        }
    }
}

/// Whether `model` is a hub URI rather than a plain path.
pub fn is_hub_uri(model: &str) -> bool {
    model.starts_with(SCHEME)
}

fn valid_name(part: &str) -> bool {
    !part.is_empty()
        && part != "."
        && part != ".."
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
}

/// Parses `hf:owner/repo/path/file.gguf`, `hf:owner/repo:QUANT` or `hf:owner/repo`.
pub fn parse(uri: &str) -> Result<HubUri> {
    let bad = |why: &str| {
        RerankError::invalid(format!(
            "{uri:?} is not a model URI ({why}); expected hf:<owner>/<repo>/<file.gguf> or hf:<owner>/<repo>:<quant>"
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
    if parts.len() == 2 {
        let (name, quant) = match parts[1].split_once(':') {
            Some((name, quant)) => (name, Some(quant)),
            None => (parts[1], None),
        };
        if !valid_name(name) {
            return Err(bad("bad repository name"));
        }
        let repo = format!("{owner}/{name}");
        return Ok(match quant {
            None => HubUri {
                repo,
                target: Target::Only,
            },
            Some(q) if valid_name(q) => HubUri {
                repo,
                target: Target::Quant(q.to_string()),
            },
            Some(_) => return Err(bad("bad quant")),
        });
    }
    if !valid_name(parts[1]) {
        return Err(bad("bad repository name"));
    }
    let file = &parts[2..];
    if file
        .iter()
        .any(|p| p.is_empty() || *p == "." || *p == ".." || p.contains(['\\', ':']))
    {
        return Err(bad("bad file path"));
    }
    Ok(HubUri {
        repo: format!("{owner}/{}", parts[1]),
        target: Target::File(file.join("/")),
    })
}

// ---------------------------------------------------------------------------------------------
// Settings

/// Where and how to reach the hub; [`HubSettings::from_env`] reads the Hugging Face variables.
#[derive(Debug, Clone)]
pub struct HubSettings {
    /// `HF_ENDPOINT`, default `https://huggingface.co`.
    pub endpoint: String,
    /// `HF_HUB_CACHE`, else `$HF_HOME/hub`, else `$XDG_CACHE_HOME/huggingface/hub`, else
    /// `~/.cache/huggingface/hub`.
    pub cache_dir: PathBuf,
    /// `HF_TOKEN`, else the file at `HF_TOKEN_PATH` or `$HF_HOME/token`.
    pub token: Option<String>,
    /// `HF_HUB_OFFLINE=1`: the cache only.
    pub offline: bool,
    /// Draw a progress bar on stderr (default: when stderr is a terminal).
    pub progress: bool,
}

/// The environment variables that shape hub access.
pub const ENV_NAMES: &[&str] = &[
    "HF_HOME",
    "XDG_CACHE_HOME",
    "HOME",
    "HF_HUB_CACHE",
    "HUGGINGFACE_HUB_CACHE",
    "HF_TOKEN",
    "HUGGING_FACE_HUB_TOKEN",
    "HF_TOKEN_PATH",
    "HF_ENDPOINT",
    "HF_HUB_OFFLINE",
];

fn truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "on" | "yes" | "true"
    )
}

fn hf_home(env: &dyn Fn(&str) -> Option<String>) -> PathBuf {
    if let Some(home) = env("HF_HOME") {
        return PathBuf::from(home);
    }
    let cache = env("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| env("HOME").map(|h| Path::new(&h).join(".cache")))
        .unwrap_or_else(|| PathBuf::from(".cache"));
    cache.join("huggingface")
}

impl HubSettings {
    /// From the process environment.
    pub fn from_env() -> Self {
        Self::from_vars(|name| std::env::var(name).ok())
    }

    /// From variables looked up by `get` (JavaScript's `process.env`, which Bun does not
    /// mirror into the C environment).
    pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Self {
        let env = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        let home = hf_home(&env);
        let cache_dir = env("HF_HUB_CACHE")
            .or_else(|| env("HUGGINGFACE_HUB_CACHE"))
            .map(PathBuf::from)
            .unwrap_or_else(|| home.join("hub"));
        let token = env("HF_TOKEN")
            .or_else(|| env("HUGGING_FACE_HUB_TOKEN"))
            .or_else(|| {
                let path = env("HF_TOKEN_PATH")
                    .map(PathBuf::from)
                    .unwrap_or_else(|| home.join("token"));
                std::fs::read_to_string(path)
                    .ok()
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
            });
        let endpoint = env("HF_ENDPOINT")
            .unwrap_or_else(|| DEFAULT_ENDPOINT.into())
            .trim_end_matches('/')
            .to_string();
        Self {
            endpoint,
            cache_dir,
            token,
            offline: env("HF_HUB_OFFLINE").is_some_and(|v| truthy(&v)),
            progress: std::io::stderr().is_terminal(),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution

/// A plain path as is; a `hf:` URI as the cached file, downloaded first when missing.
pub fn resolve_model(model: &str, settings: &HubSettings) -> Result<PathBuf> {
    if !is_hub_uri(model) {
        return Ok(PathBuf::from(model));
    }
    resolve(&parse(model)?, settings)
}

/// One download at a time per file in this process; the others then find it in the cache.
fn download_lock(key: String) -> Arc<Mutex<()>> {
    static LOCKS: OnceLock<Mutex<HashMap<String, Arc<Mutex<()>>>>> = OnceLock::new();
    let mut locks = LOCKS
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(|p| p.into_inner());
    locks.entry(key).or_default().clone()
}

/// Resolves a parsed URI to a local file.
pub fn resolve(uri: &HubUri, settings: &HubSettings) -> Result<PathBuf> {
    let cache = Cache::new(settings.cache_dir.clone());
    let cached = cache.model(uri.repo.clone());
    let file = match &uri.target {
        Target::File(file) => file.clone(),
        target => match pick(&cached_files(&settings.cache_dir, &uri.repo), target) {
            Ok(file) => file,
            Err(_) if settings.offline => {
                return Err(offline_error(uri, settings));
            }
            Err(_) => pick(&remote_files(uri, settings)?, target)
                .map_err(|e| RerankError::new(e.code, format!("{uri}: {}", e.message)))?,
        },
    };
    if let Some(path) = cached.get(&file) {
        return Ok(path);
    }
    if settings.offline {
        return Err(offline_error(uri, settings));
    }
    let lock = download_lock(format!(
        "{}\n{}\n{file}",
        settings.cache_dir.display(),
        uri.repo
    ));
    let _guard = lock.lock().unwrap_or_else(|p| p.into_inner());
    if let Some(path) = cached.get(&file) {
        return Ok(path);
    }
    download(uri, &file, settings)
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

/// The files of the cached snapshot that `refs/main` points at, as repository paths.
fn cached_files(cache_dir: &Path, repo: &str) -> Vec<String> {
    let folder = cache_dir.join(Repo::model(repo.to_string()).folder_name());
    let Ok(commit) = std::fs::read_to_string(folder.join("refs").join(REVISION)) else {
        return Vec::new();
    };
    let root = folder.join("snapshots").join(commit.trim());
    let mut out = Vec::new();
    let mut stack = vec![root.clone()];
    while let Some(dir) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                stack.push(path);
            } else if path.is_file() {
                if let Ok(rel) = path.strip_prefix(&root) {
                    out.push(rel.to_string_lossy().replace('\\', "/"));
                }
            }
        }
    }
    out.sort();
    out
}

fn api(settings: &HubSettings) -> Result<hf_hub::api::sync::Api> {
    ApiBuilder::from_cache(Cache::new(settings.cache_dir.clone()))
        .with_endpoint(settings.endpoint.clone())
        .with_token(settings.token.clone())
        .with_progress(false)
        .with_retries(0)
        .with_user_agent("llama-rerank", env!("CARGO_PKG_VERSION"))
        .build()
        .map_err(|e| hub_error(e, "the hub client", settings))
}

/// The repository's file list, from the hub's model API.
fn remote_files(uri: &HubUri, settings: &HubSettings) -> Result<Vec<String>> {
    let info = api(settings)?
        .model(uri.repo.clone())
        .info()
        .map_err(|e| hub_error(e, &format!("{SCHEME}{}", uri.repo), settings))?;
    Ok(info.siblings.into_iter().map(|s| s.rfilename).collect())
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_split_shard(name: &str) -> bool {
    // `model-00001-of-00003.gguf`
    let lower = name.to_ascii_lowercase();
    lower
        .strip_suffix(".gguf")
        .and_then(|s| s.rsplit_once("-of-"))
        .is_some_and(|(a, b)| {
            b.len() == 5
                && b.bytes().all(|c| c.is_ascii_digit())
                && a.len() >= 5
                && a[a.len() - 5..].bytes().all(|c| c.is_ascii_digit())
        })
}

/// Picks the `.gguf` file a quant (or no target) names among a repository's files.
pub fn pick(files: &[String], target: &Target) -> Result<String> {
    let ggufs: Vec<&String> = files
        .iter()
        .filter(|f| {
            let name = basename(f).to_ascii_lowercase();
            name.ends_with(".gguf") && !name.contains("mmproj")
        })
        .collect();
    let listing = || {
        if ggufs.is_empty() {
            "it has no .gguf file".to_string()
        } else {
            format!(
                "its .gguf files: {}",
                ggufs
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    };
    let chosen: Vec<&String> = match target {
        Target::File(file) => return Ok(file.clone()),
        Target::Only => ggufs.clone(),
        Target::Quant(quant) => {
            let q = quant.to_ascii_lowercase();
            let loose: Vec<&String> = ggufs
                .iter()
                .copied()
                .filter(|f| basename(f).to_ascii_lowercase().contains(&q))
                .collect();
            if loose.len() <= 1 {
                loose
            } else {
                // `Q4_K` names `x-Q4_K.gguf`, not `x-Q4_K_M.gguf`.
                let tight: Vec<&String> = loose
                    .iter()
                    .copied()
                    .filter(|f| {
                        let name = basename(f).to_ascii_lowercase();
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
        [one] if is_split_shard(one) => Err(RerankError::invalid(format!(
            "{one} is one part of a split GGUF, which is not supported; merge it with llama-gguf-split first"
        ))),
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

// ---------------------------------------------------------------------------------------------
// Download

/// Receives hf-hub's progress: keeps the size the hub announced and draws a bar on a terminal.
#[derive(Clone)]
struct Watch {
    expected: Arc<AtomicU64>,
    bar: Option<ProgressBar>,
}

impl Watch {
    fn new(show: bool, label: String) -> Self {
        let bar = show.then(|| {
            // Hidden until the size is known, so no empty frame is drawn first.
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::hidden());
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(label);
            bar
        });
        Self {
            expected: Arc::default(),
            bar,
        }
    }
}

impl Progress for Watch {
    fn init(&mut self, size: usize, _filename: &str) {
        self.expected.store(size as u64, Ordering::Release);
        if let Some(bar) = &self.bar {
            bar.set_length(size as u64);
            bar.set_position(0);
            if bar.is_hidden() {
                bar.set_draw_target(ProgressDrawTarget::stderr());
            }
        }
    }

    fn update(&mut self, size: usize) {
        if let Some(bar) = &self.bar {
            bar.inc(size as u64);
        }
    }

    fn finish(&mut self) {}
}

fn download(uri: &HubUri, file: &str, settings: &HubSettings) -> Result<PathBuf> {
    let what = format!("{SCHEME}{}/{file}", uri.repo);
    let watch = Watch::new(settings.progress, format!("downloading {}", basename(file)));
    let repo = api(settings)?.model(uri.repo.clone());
    // hf-hub's own retry loop drops a success on its last attempt and then can never finish
    // the complete `.part` file, so retry here: every attempt asks for the metadata again and
    // resumes from the `.part` file with a Range request.
    let mut attempt = 0;
    let outcome = loop {
        match repo.download_with_progress(file, watch.clone()) {
            Err(e) if attempt < RETRIES && interrupted(&e) => {
                attempt += 1;
                std::thread::sleep(std::time::Duration::from_millis(200 * attempt as u64));
            }
            other => break other,
        }
    };
    if let Some(bar) = &watch.bar {
        bar.finish_and_clear();
    }
    let path = outcome.map_err(|e| {
        let mut e = hub_error(e, &what, settings);
        if attempt > 0 && e.code == ErrorCode::HubDownload {
            e.message.push_str(&format!(" ({} attempts)", attempt + 1));
        }
        e
    })?;
    verify(&path, watch.expected.load(Ordering::Acquire), &what)?;
    if settings.progress {
        let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        eprintln!(
            "llama-rerank: downloaded {what} ({}) to {}",
            HumanBytes(size),
            path.display()
        );
    }
    Ok(path)
}

/// A cut connection or a read that failed mid-body: worth resuming.
fn interrupted(error: &ApiError) -> bool {
    match error {
        ApiError::IoError(_) => true,
        ApiError::RequestError(e) => matches!(
            e.as_ref(),
            ureq::Error::Transport(t) if t.kind() == ureq::ErrorKind::Io
        ),
        _ => false,
    }
}

/// Checks the downloaded file against the size the hub announced and, when the ETag is a
/// sha256 (as it is for LFS files such as GGUFs), against that digest. A bad file is removed.
fn verify(snapshot: &Path, expected_size: u64, what: &str) -> Result<()> {
    let blob = std::fs::canonicalize(snapshot).unwrap_or_else(|_| snapshot.to_path_buf());
    let fail = |why: String| {
        let _ = std::fs::remove_file(&blob);
        let _ = std::fs::remove_file(snapshot);
        RerankError::new(
            ErrorCode::HubIntegrity,
            format!("{what}: {why}; the file was removed, run again to download it anew"),
        )
    };
    let size = std::fs::metadata(&blob)
        .map_err(|e| RerankError::new(ErrorCode::HubDownload, what.to_string()).caused_by(&e))?
        .len();
    if expected_size > 0 && size != expected_size {
        return Err(fail(format!(
            "downloaded {size} bytes, the hub announced {expected_size}"
        )));
    }
    let etag = blob
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    if etag.len() == 64 && etag.bytes().all(|c| c.is_ascii_hexdigit()) {
        let digest = sha256_file(&blob).map_err(|e| {
            RerankError::new(
                ErrorCode::HubDownload,
                format!("{what}: cannot read it back"),
            )
            .caused_by(&e)
        })?;
        if digest != etag {
            return Err(fail(format!(
                "sha256 {digest} differs from the hub's {etag}"
            )));
        }
    }
    Ok(())
}

fn sha256_file(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Turns hf-hub's error into one with a stable code and a message that says what to do.
fn hub_error(error: ApiError, what: &str, settings: &HubSettings) -> RerankError {
    let endpoint = &settings.endpoint;
    match error {
        ApiError::RequestError(inner) => match *inner {
            ureq::Error::Status(status, response) => {
                let hub_says = response
                    .header("x-error-message")
                    .map(|m| format!(" (the hub says: {m})"))
                    .unwrap_or_default();
                // The hub answers 401 for a missing repository too, so that a private one
                // does not show; its X-Error-Code tells them apart.
                match (status, response.header("x-error-code").unwrap_or("")) {
                    (_, "RepoNotFound") => RerankError::new(
                        ErrorCode::ModelNotFound,
                        format!(
                            "{what}: no such repository on {endpoint} (HTTP {status}){hub_says}; {}",
                            if settings.token.is_some() {
                                "check its name, and that HF_TOKEN can read it if it is private"
                            } else {
                                "check its name; if it is private, set HF_TOKEN to a token that can read it"
                            }
                        ),
                    ),
                    (_, "EntryNotFound") | (404, _) => RerankError::new(
                        ErrorCode::ModelNotFound,
                        format!("{what}: not found on {endpoint} (HTTP {status}){hub_says}"),
                    ),
                    (401 | 403, _) => {
                        let hint = if settings.token.is_some() {
                            "check that HF_TOKEN can read this repository and that you accepted its terms on the hub"
                        } else {
                            "the repository is private or gated; set HF_TOKEN to a token that can read it"
                        };
                        RerankError::new(
                            ErrorCode::HubUnauthorized,
                            format!("{what}: {endpoint} refused access (HTTP {status}){hub_says}; {hint}"),
                        )
                    }
                    _ => RerankError::new(
                        ErrorCode::HubDownload,
                        format!("{what}: {endpoint} answered HTTP {status}{hub_says}"),
                    ),
                }
            }
            ureq::Error::Transport(transport) => RerankError::new(
                ErrorCode::HubDownload,
                format!(
                    "{what}: cannot reach {endpoint}; set HF_HUB_OFFLINE=1 to use the cache only"
                ),
            )
            .with_cause(transport.to_string()),
        },
        ApiError::TooManyRetries(inner) => hub_error(*inner, what, settings),
        ApiError::IoError(io) => RerankError::new(
            ErrorCode::HubDownload,
            format!("{what}: the download was interrupted; run again to resume it"),
        )
        .caused_by(&io),
        ApiError::InvalidResume => RerankError::new(
            ErrorCode::HubIntegrity,
            format!(
                "{what}: the partial download in {} is larger than the file; delete its .part file",
                settings.cache_dir.display()
            ),
        ),
        ApiError::LockAcquisition(path) => RerankError::new(
            ErrorCode::HubDownload,
            format!(
                "{what}: another process is downloading it (lock {}); try again when it is done",
                path.display()
            ),
        ),
        other => RerankError::new(
            ErrorCode::HubDownload,
            format!("{what}: unexpected answer from {endpoint}"),
        )
        .with_cause(other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(repo: &str, f: &str) -> HubUri {
        HubUri {
            repo: repo.into(),
            target: Target::File(f.into()),
        }
    }

    #[test]
    fn parses_the_three_forms() {
        assert_eq!(
            parse("hf:ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF/qwen3-reranker-0.6b-q8_0.gguf")
                .unwrap(),
            file(
                "ggml-org/Qwen3-Reranker-0.6B-Q8_0-GGUF",
                "qwen3-reranker-0.6b-q8_0.gguf"
            )
        );
        assert_eq!(
            parse("hf:o/r/sub/dir/m.gguf").unwrap(),
            file("o/r", "sub/dir/m.gguf")
        );
        assert_eq!(parse("hf://o/r/m.gguf").unwrap(), file("o/r", "m.gguf"));
        assert_eq!(
            parse("hf:o/r:Q8_0").unwrap(),
            HubUri {
                repo: "o/r".into(),
                target: Target::Quant("Q8_0".into())
            }
        );
        assert_eq!(
            parse("hf:o/r").unwrap(),
            HubUri {
                repo: "o/r".into(),
                target: Target::Only
            }
        );
        assert_eq!(parse("hf:o/r:Q8_0").unwrap().to_string(), "hf:o/r:Q8_0");
    }

    #[test]
    fn refuses_malformed_uris() {
        for bad in [
            "hf:",
            "hf:owner",
            "hf:/repo/f.gguf",
            "hf:o/../f.gguf",
            "hf:o/r/../f.gguf",
            "hf:o/r//f.gguf",
            "hf:o/r:",
            "hf:o/r:Q8/f.gguf",
            "hf:o w/r/f.gguf",
        ] {
            let e = parse(bad).unwrap_err();
            assert_eq!(e.code, ErrorCode::InvalidArgument, "{bad}");
        }
        assert!(!is_hub_uri("./hf:model.gguf"));
        assert!(!is_hub_uri("/models/x.gguf"));
    }

    #[test]
    fn plain_paths_are_returned_untouched() {
        assert_eq!(
            resolve_model("fixtures/x.gguf", &HubSettings::from_env()).unwrap(),
            PathBuf::from("fixtures/x.gguf")
        );
    }

    fn files(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn picks_the_quant_case_insensitively() {
        let repo = files(&[
            "README.md",
            "model-Q4_K_M.gguf",
            "model-Q4_K.gguf",
            "model-Q8_0.gguf",
            "mmproj-model-Q8_0.gguf",
        ]);
        let quant = |q: &str| pick(&repo, &Target::Quant(q.into()));
        assert_eq!(quant("q8_0").unwrap(), "model-Q8_0.gguf");
        assert_eq!(quant("Q4_K_M").unwrap(), "model-Q4_K_M.gguf");
        assert_eq!(quant("Q4_K").unwrap(), "model-Q4_K.gguf");
        assert_eq!(quant("F16").unwrap_err().code, ErrorCode::ModelNotFound);
        assert_eq!(
            pick(&repo, &Target::Only).unwrap_err().code,
            ErrorCode::InvalidArgument
        );
        assert_eq!(
            pick(&files(&["a/only.gguf", "x.txt"]), &Target::Only).unwrap(),
            "a/only.gguf"
        );
        let ambiguous = files(&["a-Q4_K_S.gguf", "a-Q4_K_M.gguf"]);
        assert_eq!(
            pick(&ambiguous, &Target::Quant("q4_k".into()))
                .unwrap_err()
                .code,
            ErrorCode::InvalidArgument
        );
        let split = files(&["big-Q8_0-00001-of-00002.gguf"]);
        assert!(is_split_shard(&split[0]));
        assert_eq!(
            pick(&split, &Target::Quant("q8_0".into()))
                .unwrap_err()
                .code,
            ErrorCode::InvalidArgument
        );
    }

    #[test]
    fn truthy_values_follow_huggingface_hub() {
        for v in ["1", "ON", "yes", "True"] {
            assert!(truthy(v));
        }
        for v in ["0", "off", "", "no"] {
            assert!(!truthy(v));
        }
    }
}
