//! `hf:` model URIs: `hf:<owner>/<repo>[@<revision>]/<file.gguf>`,
//! `hf:<owner>/<repo>[@<revision>]:<quant>` and `hf:<owner>/<repo>[@<revision>]`.
//!
//! A URI resolves to a file in the standard Hugging Face cache
//! (`<cache>/models--owner--repo/{blobs,snapshots,refs}`, the layout `huggingface_hub` and the
//! `hf-hub` crate use), downloaded once. The download is done here on `ureq`: the `hf-hub`
//! crate's blocking client can neither be stopped nor time out a stalled connection, and its
//! file lock gives up after 5 s. What this module does: the `HF_HUB_CACHE`/`HF_TOKEN`/
//! `HF_HUB_OFFLINE` variables, a cache-first lookup that makes no request, revisions, quant
//! selection, split GGUFs (every shard is fetched), a `Range` resume of the `.part` file, a
//! download that an abort stops and a stall times out, a wait for another process that
//! downloads the same file, size and sha256 checks, and errors with stable codes.
//!
//! Anything that does not start with `hf:` is a plain path and never touches the network.

use std::fs::{File, OpenOptions};
use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use hf_hub::Repo;
use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use sha2::{Digest, Sha256};

use crate::error::{ErrorCode, RerankError, Result};

/// The prefix that marks a model URI.
pub const SCHEME: &str = "hf:";

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
const DEFAULT_REVISION: &str = "main";
/// Attempts after a cut connection within one call; each resumes where the last stopped.
const RETRIES: usize = 3;
/// `LLAMA_RERANK_HUB_TIMEOUT`'s default: seconds without any progress before a call gives up.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;
/// How often the waiting call looks at its signal and at the download's progress.
const POLL: Duration = Duration::from_millis(10);
/// How often a process waiting for another one's download looks at its lock.
const LOCK_POLL: Duration = Duration::from_millis(100);
/// After an abort or a timeout, how long the call waits for the download thread to close its
/// connection before it returns anyway. The thread stops at its next read either way: at once
/// while bytes flow, at the read timeout on a stalled connection.
const GRACE: Duration = Duration::from_millis(100);

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

    fn repo_with_revision(&self) -> String {
        match &self.revision {
            Some(rev) => format!("{}@{rev}", self.repo),
            None => self.repo.clone(),
        }
    }

    /// The URI of one file of this repository and revision.
    fn file_uri(&self, file: &str) -> String {
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

fn valid_name(part: &str) -> bool {
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
    /// `LLAMA_RERANK_HUB_TIMEOUT` (seconds, default 30): how long a call waits without any
    /// progress (no byte received, no answer, no growth of another process's download)
    /// before it gives up with `ERR_HUB_TIMEOUT`. `Err` holds a value that is not a positive
    /// number, reported when a download is attempted.
    pub timeout: std::result::Result<Duration, String>,
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
    "LLAMA_RERANK_HUB_TIMEOUT",
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

/// `LLAMA_RERANK_HUB_TIMEOUT`: positive seconds, fractions allowed.
fn parse_timeout(value: Option<&str>) -> std::result::Result<Duration, String> {
    let Some(value) = value else {
        return Ok(Duration::from_secs_f64(DEFAULT_TIMEOUT_SECS));
    };
    match value.trim().parse::<f64>() {
        Ok(secs) if secs > 0.0 && secs.is_finite() && secs < 1e9 => {
            Ok(Duration::from_secs_f64(secs))
        }
        _ => Err(format!(
            "LLAMA_RERANK_HUB_TIMEOUT must be a positive number of seconds, got {value:?}"
        )),
    }
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
            timeout: parse_timeout(env("LLAMA_RERANK_HUB_TIMEOUT").as_deref()),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Resolution

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

fn repo_folder(cache_dir: &Path, repo: &str) -> PathBuf {
    cache_dir.join(Repo::model(repo.to_string()).folder_name())
}

/// A full commit hash, which names a snapshot directly (no `refs/` file).
fn is_commit(revision: &str) -> bool {
    revision.len() == 40 && revision.bytes().all(|c| c.is_ascii_hexdigit())
}

/// The snapshot directory a revision points at in the cache, if any: `snapshots/<commit>`,
/// where `refs/<revision>` holds the commit (a commit hash is its own snapshot).
fn cached_snapshot(folder: &Path, revision: &str) -> Option<PathBuf> {
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
fn snapshot_files(root: &Path) -> Vec<String> {
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

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// `model-00002-of-00003.gguf` → (`model`, 2, 3): a shard of a split GGUF, named the way
/// `llama-gguf-split` names them and llama.cpp finds them.
fn split_shard(name: &str) -> Option<(&str, u32, u32)> {
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
fn shards_of(file: &str) -> Vec<String> {
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

// ---------------------------------------------------------------------------------------------
// A download that can be stopped

/// What a download thread shares with the call waiting for it.
#[derive(Default)]
struct Control {
    /// Set by the waiting call on an abort or a timeout; the thread stops at its next step.
    cancel: AtomicBool,
    /// Bumped by every sign of progress: bytes received, an answer, another process's download
    /// growing. A call gives up when it stays still for the timeout.
    ticks: AtomicU64,
}

impl Control {
    fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// `Err` once the waiting call has given up.
    fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Acquire) {
            Err(RerankError::aborted())
        } else {
            Ok(())
        }
    }

    /// Sleeps `total`, returning early with `Err` when the call gives up.
    fn sleep(&self, total: Duration) -> Result<()> {
        let until = Instant::now() + total;
        loop {
            self.check()?;
            let now = Instant::now();
            if now >= until {
                return Ok(());
            }
            std::thread::sleep((until - now).min(LOCK_POLL));
        }
    }
}

fn timeout_error(what: &str, endpoint: &str, timeout: Duration) -> RerankError {
    RerankError::new(
        ErrorCode::HubTimeout,
        format!(
            "{what}: no progress for {} s (from {endpoint}, or from another process downloading the same file); \
             the partial download is kept, run again to resume it, or raise LLAMA_RERANK_HUB_TIMEOUT",
            timeout.as_secs_f64()
        ),
    )
}

/// Runs `job` on a thread of its own and waits for it, polling `abort` and the job's progress.
/// On an abort, or when the job makes no progress for `timeout`, the call returns at once
/// (after at most [`GRACE`] for the thread to close its connection) and the thread stops at its
/// next step without writing anything more.
fn run_stoppable<T: Send + 'static>(
    abort: &AtomicBool,
    timeout: Duration,
    what: &str,
    endpoint: &str,
    job: impl FnOnce(&Control) -> Result<T> + Send + 'static,
) -> Result<T> {
    let control = Arc::new(Control::default());
    let (tx, rx) = mpsc::sync_channel(1);
    let shared = control.clone();
    std::thread::Builder::new()
        .name("llama-rerank-hub".into())
        .spawn(move || {
            let outcome = job(&shared);
            let _ = tx.send(outcome);
        })
        .map_err(|e| {
            RerankError::new(ErrorCode::Internal, "cannot start a download thread").caused_by(&e)
        })?;
    let mut seen = control.ticks.load(Ordering::Relaxed);
    let mut still_since = Instant::now();
    loop {
        match rx.recv_timeout(POLL) {
            Ok(outcome) => return outcome,
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(RerankError::new(
                    ErrorCode::Internal,
                    format!("{what}: the download thread failed"),
                ))
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
        }
        let stop = if abort.load(Ordering::Acquire) {
            Some(RerankError::aborted())
        } else {
            let ticks = control.ticks.load(Ordering::Relaxed);
            if ticks != seen {
                seen = ticks;
                still_since = Instant::now();
                None
            } else if still_since.elapsed() >= timeout {
                Some(timeout_error(what, endpoint, timeout))
            } else {
                None
            }
        };
        if let Some(error) = stop {
            control.cancel.store(true, Ordering::Release);
            let _ = rx.recv_timeout(GRACE);
            return Err(error);
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The hub's HTTP API

/// What the hub says about a file before it is downloaded.
#[derive(Debug)]
struct Metadata {
    commit: String,
    /// The sha256 for LFS files (GGUFs), a git hash for small files.
    etag: String,
    size: u64,
    /// Where the bytes are: the storage URL the hub redirects to, or the resolve URL.
    url: String,
}

/// Percent-encodes a path segment.
fn encode(segment: &str) -> String {
    let mut out = String::with_capacity(segment.len());
    for b in segment.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

struct Client<'a> {
    settings: &'a HubSettings,
    timeout: Duration,
    /// Follows no redirect: the resolve answer's headers are the file's metadata.
    direct: ureq::Agent,
    /// Follows redirects, to the storage URL.
    follow: ureq::Agent,
}

impl<'a> Client<'a> {
    fn new(settings: &'a HubSettings, timeout: Duration) -> Self {
        let agent = |redirects| {
            ureq::AgentBuilder::new()
                .try_proxy_from_env(true)
                .timeout_connect(timeout)
                .timeout_read(timeout)
                .timeout_write(timeout)
                .redirects(redirects)
                .redirect_auth_headers(ureq::RedirectAuthHeaders::SameHost)
                .user_agent(&format!(
                    "llama-rerank/{}; rust/unknown",
                    env!("CARGO_PKG_VERSION")
                ))
                .build()
        };
        Self {
            settings,
            timeout,
            direct: agent(0),
            follow: agent(5),
        }
    }

    /// A GET with the token when `url` is on the hub itself (not its storage).
    fn get(&self, agent: &ureq::Agent, url: &str) -> ureq::Request {
        let request = agent.get(url);
        match &self.settings.token {
            Some(token) if origin(url) == origin(&self.settings.endpoint) => {
                request.set("Authorization", &format!("Bearer {token}"))
            }
            _ => request,
        }
    }

    fn call(
        &self,
        request: ureq::Request,
        what: &str,
        control: &Control,
    ) -> Result<ureq::Response> {
        control.check()?;
        let response = request
            .call()
            .map_err(|e| request_error(e, what, self.settings))?;
        control.check()?;
        control.tick();
        Ok(response)
    }

    /// The repository's file list at the URI's revision, from the hub's model API.
    fn list_files(&self, uri: &HubUri, control: &Control) -> Result<Vec<String>> {
        let url = format!(
            "{}/api/models/{}/revision/{}",
            self.settings.endpoint,
            uri.repo,
            encode(uri.revision())
        );
        let what = format!("{SCHEME}{}", uri.repo_with_revision());
        let response = self.call(self.get(&self.follow, &url), &what, control)?;
        let info: hf_hub::api::RepoInfo = response.into_json().map_err(|e| {
            RerankError::new(
                ErrorCode::HubDownload,
                format!("{what}: unexpected answer from {}", self.settings.endpoint),
            )
            .caused_by(&e)
        })?;
        Ok(info.siblings.into_iter().map(|s| s.rfilename).collect())
    }

    /// The file's commit, ETag and size, from a `Range: bytes=0-0` request to its resolve URL
    /// (as `hf-hub` and `huggingface_hub` ask).
    fn metadata(
        &self,
        uri: &HubUri,
        file: &str,
        what: &str,
        control: &Control,
    ) -> Result<Metadata> {
        let path: Vec<String> = file.split('/').map(encode).collect();
        let mut url = format!(
            "{}/{}/resolve/{}/{}",
            self.settings.endpoint,
            uri.repo,
            encode(uri.revision()),
            path.join("/")
        );
        let unexpected = |why: &str| {
            RerankError::new(
                ErrorCode::HubDownload,
                format!(
                    "{what}: unexpected answer from {} ({why})",
                    self.settings.endpoint
                ),
            )
        };
        // A relative redirect (a renamed repository) stays on the hub; an absolute one is the
        // storage URL.
        let mut response = None;
        for _ in 0..5 {
            let r = self.call(
                self.get(&self.direct, &url).set("Range", "bytes=0-0"),
                what,
                control,
            )?;
            match r.header("location") {
                Some(location) if (300..400).contains(&r.status()) && location.starts_with('/') => {
                    url = format!("{}{location}", origin(&url));
                }
                _ => {
                    response = Some(r);
                    break;
                }
            }
        }
        let response = response.ok_or_else(|| unexpected("too many redirects"))?;
        let header = |name: &str| response.header(name).map(str::to_string);
        let commit = header("x-repo-commit").ok_or_else(|| unexpected("no X-Repo-Commit"))?;
        let etag = header("x-linked-etag")
            .or_else(|| header("etag"))
            .ok_or_else(|| unexpected("no ETag"))?;
        let etag = etag.trim().trim_start_matches("W/").replace('"', "");
        if !valid_name(&commit) || !valid_name(&etag) {
            return Err(unexpected("a malformed commit or ETag"));
        }
        let redirect = (300..400).contains(&response.status());
        let location = header("location");
        let total_of = |r: &ureq::Response| {
            r.header("content-range")
                .and_then(|c| c.rsplit('/').next())
                .and_then(|n| n.trim().parse::<u64>().ok())
        };
        let size = match header("x-linked-size").and_then(|s| s.trim().parse().ok()) {
            Some(size) => size,
            None => match (redirect, &location) {
                (true, Some(location)) => {
                    let probe = self.call(
                        self.get(&self.follow, location).set("Range", "bytes=0-0"),
                        what,
                        control,
                    )?;
                    total_of(&probe).ok_or_else(|| unexpected("no size"))?
                }
                _ => total_of(&response)
                    .or_else(|| header("content-length").and_then(|s| s.parse().ok()))
                    .ok_or_else(|| unexpected("no size"))?,
            },
        };
        let url = match (redirect, location) {
            (true, Some(location)) => location,
            _ => url,
        };
        Ok(Metadata {
            commit,
            etag,
            size,
            url,
        })
    }

    /// One file into the cache: `blobs/<etag>` (through `blobs/<etag>.part`, under the lock
    /// `blobs/<etag>.lock`), `snapshots/<commit>/<file>` linking to it, and
    /// `refs/<revision>` holding the commit.
    fn fetch(&self, uri: &HubUri, file: &str, control: &Control) -> Result<PathBuf> {
        let what = uri.file_uri(file);
        let folder = repo_folder(&self.settings.cache_dir, &uri.repo);
        if let Some(snapshot) = cached_snapshot(&folder, uri.revision()) {
            let path = snapshot.join(file);
            if path.is_file() {
                return Ok(path);
            }
        }
        let meta = self.metadata(uri, file, &what, control)?;
        let io_error = |e: std::io::Error| {
            RerankError::new(
                ErrorCode::HubDownload,
                format!("{what}: cannot write to the cache"),
            )
            .caused_by(&e)
        };
        let blobs = folder.join("blobs");
        std::fs::create_dir_all(&blobs).map_err(io_error)?;
        let blob = blobs.join(&meta.etag);
        let part = blobs.join(format!("{}.part", meta.etag));
        let lock =
            lock_blob(&blobs.join(format!("{}.lock", meta.etag)), &part, control).map_err(|e| {
                match e {
                    LockError::Stopped(e) => e,
                    LockError::Io(e) => io_error(e),
                }
            })?;
        let heartbeat = Heartbeat::new(&lock);
        // Another process may have finished it while this one waited.
        let have = std::fs::metadata(&blob).ok().map(|m| m.len());
        if have != Some(meta.size) {
            self.download(&meta, &part, &what, control, &heartbeat)?;
            verify(&part, &meta, &what, control, &heartbeat)?;
            std::fs::rename(&part, &blob).map_err(io_error)?;
            if self.settings.progress {
                eprintln!(
                    "llama-rerank: downloaded {what} ({})",
                    HumanBytes(meta.size)
                );
            }
        }
        drop(lock);
        let snapshot = folder.join("snapshots").join(&meta.commit);
        let pointer = snapshot.join(file);
        if let Some(parent) = pointer.parent() {
            std::fs::create_dir_all(parent).map_err(io_error)?;
        }
        link_blob(&blob, &pointer, file).map_err(io_error)?;
        if uri.revision() != meta.commit {
            let refs = folder.join("refs");
            let r = refs.join(uri.revision());
            std::fs::create_dir_all(&refs).map_err(io_error)?;
            if std::fs::read_to_string(&r).ok().as_deref() != Some(meta.commit.as_str()) {
                std::fs::write(&r, &meta.commit).map_err(io_error)?;
            }
        }
        Ok(pointer)
    }

    /// Appends the rest of the file to `part`, resuming with a `Range` request and retrying a
    /// cut connection [`RETRIES`] times.
    fn download(
        &self,
        meta: &Metadata,
        part: &Path,
        what: &str,
        control: &Control,
        heartbeat: &Heartbeat,
    ) -> Result<()> {
        let bar = self.settings.progress.then(|| {
            let bar = ProgressBar::new(meta.size);
            if let Ok(style) = ProgressStyle::with_template(
                "{msg} [{wide_bar}] {bytes}/{total_bytes} {bytes_per_sec} {eta}",
            ) {
                bar.set_style(style.progress_chars("=> "));
            }
            bar.set_message(format!("downloading {}", basename(what)));
            bar
        });
        let io_error = |e: std::io::Error| {
            RerankError::new(
                ErrorCode::HubDownload,
                format!("{what}: cannot write to the cache"),
            )
            .caused_by(&e)
        };
        let mut attempt = 0;
        let outcome = loop {
            let mut out = OpenOptions::new()
                .create(true)
                .append(true)
                .open(part)
                .map_err(io_error)?;
            let mut have = out.metadata().map_err(io_error)?.len();
            if have > meta.size {
                // Not a prefix of this file: start again.
                out.set_len(0).map_err(io_error)?;
                have = 0;
            }
            if let Some(bar) = &bar {
                bar.set_position(have);
            }
            if have == meta.size {
                break Ok(());
            }
            match self.receive(meta, &mut out, have, what, control, heartbeat, bar.as_ref()) {
                Err(Failure::Cut(e)) if attempt < RETRIES => {
                    attempt += 1;
                    drop(e);
                    control.sleep(Duration::from_millis(200 * attempt as u64))?;
                }
                Err(Failure::Cut(e)) => {
                    break Err(RerankError::new(
                        ErrorCode::HubDownload,
                        format!(
                            "{what}: the download was interrupted ({} attempts); run again to resume it",
                            attempt + 1
                        ),
                    )
                    .caused_by(&e))
                }
                Err(Failure::Final(e)) => break Err(e),
                // The body ended where the server said it would; verify() checks the size.
                Ok(()) => break Ok(()),
            }
        };
        if let Some(bar) = &bar {
            bar.finish_and_clear();
        }
        outcome
    }

    /// One request for the bytes from `have` on, appended to `out` as they come.
    #[allow(clippy::too_many_arguments)]
    fn receive(
        &self,
        meta: &Metadata,
        out: &mut File,
        have: u64,
        what: &str,
        control: &Control,
        heartbeat: &Heartbeat,
        bar: Option<&ProgressBar>,
    ) -> std::result::Result<(), Failure> {
        let request = self
            .get(&self.follow, &meta.url)
            .set("Range", &format!("bytes={have}-"));
        let response = match request.call() {
            Ok(r) => r,
            Err(ureq::Error::Transport(t)) if t.kind() == ureq::ErrorKind::Io && !timed_out(&t) => {
                return Err(Failure::Cut(std::io::Error::other(t.to_string())));
            }
            Err(e) => return Err(Failure::Final(request_error(e, what, self.settings))),
        };
        control.check().map_err(Failure::Final)?;
        control.tick();
        if response.status() == 206 {
            let start = response
                .header("content-range")
                .and_then(|c| c.trim().strip_prefix("bytes "))
                .and_then(|c| c.split('-').next())
                .and_then(|s| s.parse::<u64>().ok());
            if start != Some(have) {
                return Err(Failure::Final(RerankError::new(
                    ErrorCode::HubDownload,
                    format!(
                        "{what}: {} answered bytes from {start:?} to a request from {have}",
                        self.settings.endpoint
                    ),
                )));
            }
        } else if have > 0 {
            // The server ignored the Range: take the whole file.
            out.set_len(0)
                .map_err(|e| Failure::Final(write_error(what, e)))?;
        }
        let mut reader = response.into_reader();
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = match reader.read(&mut buf) {
                Ok(0) => return Ok(()),
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) if is_timeout(&e) => {
                    return Err(Failure::Final(timeout_error(
                        what,
                        &self.settings.endpoint,
                        self.timeout,
                    )))
                }
                Err(e) => return Err(Failure::Cut(e)),
            };
            // Nothing more is written once the call has given up.
            control.check().map_err(Failure::Final)?;
            out.write_all(&buf[..n])
                .map_err(|e| Failure::Final(write_error(what, e)))?;
            control.tick();
            heartbeat.beat();
            if let Some(bar) = bar {
                bar.inc(n as u64);
            }
        }
    }
}

enum Failure {
    /// A cut connection: worth resuming.
    Cut(std::io::Error),
    Final(RerankError),
}

fn write_error(what: &str, e: std::io::Error) -> RerankError {
    RerankError::new(
        ErrorCode::HubDownload,
        format!("{what}: cannot write to the cache"),
    )
    .caused_by(&e)
}

fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

fn timed_out(t: &ureq::Transport) -> bool {
    use std::error::Error;
    let mut source = t.source();
    while let Some(e) = source {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if is_timeout(io) {
                return true;
            }
        }
        source = e.source();
    }
    false
}

// ---------------------------------------------------------------------------------------------
// The lock that one download of a file holds

enum LockError {
    Stopped(RerankError),
    Io(std::io::Error),
}

/// Takes the file lock of a blob, waiting while another process (or call) holds it: that one
/// is downloading the file, and its `.part` file growing (or its lock file touched) counts as
/// progress, so the wait ends with the timeout only when the other download stalls.
fn lock_blob(path: &Path, part: &Path, control: &Control) -> std::result::Result<File, LockError> {
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .map_err(LockError::Io)?;
    let mut seen = None;
    loop {
        match file.try_lock() {
            Ok(()) => return Ok(file),
            Err(std::fs::TryLockError::WouldBlock) => {}
            Err(std::fs::TryLockError::Error(e)) => return Err(LockError::Io(e)),
        }
        let now = (
            std::fs::metadata(part).map(|m| m.len()).ok(),
            std::fs::metadata(path).and_then(|m| m.modified()).ok(),
        );
        if seen != Some(now) {
            if seen.is_some() {
                control.tick();
            }
            seen = Some(now);
        }
        control.sleep(LOCK_POLL).map_err(LockError::Stopped)?;
    }
}

/// Touches the lock file at most once a second while its holder makes progress, so that a
/// process waiting for it sees progress while no byte is written (the sha256 check).
struct Heartbeat<'a> {
    file: &'a File,
    last: std::cell::Cell<Instant>,
}

impl<'a> Heartbeat<'a> {
    fn new(file: &'a File) -> Self {
        Self {
            file,
            last: std::cell::Cell::new(Instant::now()),
        }
    }

    fn beat(&self) {
        if self.last.get().elapsed() >= Duration::from_secs(1) {
            self.last.set(Instant::now());
            let _ = self.file.set_modified(SystemTime::now());
        }
    }
}

/// `snapshots/<commit>/<file>` → `../../blobs/<etag>` (a relative link, as `huggingface_hub`
/// makes; a copy where links cannot be made).
fn link_blob(blob: &Path, pointer: &Path, file: &str) -> std::io::Result<()> {
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

/// Checks the downloaded file against the size the hub announced and, when the ETag is a
/// sha256 (as it is for LFS files such as GGUFs), against that digest. A bad file is removed.
fn verify(
    part: &Path,
    meta: &Metadata,
    what: &str,
    control: &Control,
    heartbeat: &Heartbeat,
) -> Result<()> {
    let fail = |why: String| {
        let _ = std::fs::remove_file(part);
        RerankError::new(
            ErrorCode::HubIntegrity,
            format!("{what}: {why}; the file was removed, run again to download it anew"),
        )
    };
    let size = std::fs::metadata(part)
        .map_err(|e| RerankError::new(ErrorCode::HubDownload, what.to_string()).caused_by(&e))?
        .len();
    if size != meta.size {
        return Err(fail(format!(
            "downloaded {size} bytes, the hub announced {}",
            meta.size
        )));
    }
    let etag = meta.etag.to_ascii_lowercase();
    if etag.len() == 64 && etag.bytes().all(|c| c.is_ascii_hexdigit()) {
        let digest = sha256_file(part, control, heartbeat).map_err(|e| match e {
            LockError::Stopped(e) => e,
            LockError::Io(e) => RerankError::new(
                ErrorCode::HubDownload,
                format!("{what}: cannot read it back"),
            )
            .caused_by(&e),
        })?;
        if digest != etag {
            return Err(fail(format!(
                "sha256 {digest} differs from the hub's {etag}"
            )));
        }
    }
    Ok(())
}

fn sha256_file(
    path: &Path,
    control: &Control,
    heartbeat: &Heartbeat,
) -> std::result::Result<String, LockError> {
    let mut file = File::open(path).map_err(LockError::Io)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        control.check().map_err(LockError::Stopped)?;
        let n = file.read(&mut buf).map_err(LockError::Io)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        control.tick();
        heartbeat.beat();
    }
    Ok(hasher
        .finalize()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Turns a failed request into an error with a stable code and a message that says what to do.
fn request_error(error: ureq::Error, what: &str, settings: &HubSettings) -> RerankError {
    let endpoint = &settings.endpoint;
    match error {
        ureq::Error::Status(status, response) => {
            let hub_says = response
                .header("x-error-message")
                .map(|m| format!(" (the hub says: {m})"))
                .unwrap_or_default();
            // The hub answers 401 for a missing repository too, so that a private one does not
            // show; its X-Error-Code tells them apart.
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
                (_, "RevisionNotFound") => RerankError::new(
                    ErrorCode::ModelNotFound,
                    format!("{what}: no such revision on {endpoint} (HTTP {status}){hub_says}"),
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
                        format!(
                            "{what}: {endpoint} refused access (HTTP {status}){hub_says}; {hint}"
                        ),
                    )
                }
                (416, _) => RerankError::new(
                    ErrorCode::HubIntegrity,
                    format!(
                        "{what}: the partial download in {} is larger than the file; delete its .part file",
                        settings.cache_dir.display()
                    ),
                ),
                _ => RerankError::new(
                    ErrorCode::HubDownload,
                    format!("{what}: {endpoint} answered HTTP {status}{hub_says}"),
                ),
            }
        }
        ureq::Error::Transport(transport) if timed_out(&transport) => RerankError::new(
            ErrorCode::HubTimeout,
            format!(
                "{what}: {endpoint} did not answer in time (LLAMA_RERANK_HUB_TIMEOUT); set HF_HUB_OFFLINE=1 to use the cache only"
            ),
        )
        .with_cause(transport.to_string()),
        ureq::Error::Transport(transport) => RerankError::new(
            ErrorCode::HubDownload,
            format!("{what}: cannot reach {endpoint}; set HF_HUB_OFFLINE=1 to use the cache only"),
        )
        .with_cause(transport.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(repo: &str, f: &str) -> HubUri {
        HubUri {
            repo: repo.into(),
            revision: None,
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
                revision: None,
                target: Target::Quant("Q8_0".into())
            }
        );
        assert_eq!(
            parse("hf:o/r").unwrap(),
            HubUri {
                repo: "o/r".into(),
                revision: None,
                target: Target::Only
            }
        );
        assert_eq!(parse("hf:o/r:Q8_0").unwrap().to_string(), "hf:o/r:Q8_0");
    }

    #[test]
    fn parses_a_revision_in_every_form() {
        let rev = |uri: &str| {
            let parsed = parse(uri).unwrap();
            assert_eq!(parsed.to_string(), uri);
            (parsed.revision.clone(), parsed.target.clone())
        };
        assert_eq!(
            rev("hf:o/r@v2/sub/m.gguf"),
            (Some("v2".into()), Target::File("sub/m.gguf".into()))
        );
        assert_eq!(
            rev("hf:o/r@main:Q8_0"),
            (Some("main".into()), Target::Quant("Q8_0".into()))
        );
        let commit = "c0ffee0000000000000000000000000000000002";
        assert_eq!(
            rev(&format!("hf:o/r@{commit}")),
            (Some(commit.into()), Target::Only)
        );
        assert_eq!(parse("hf:o/r").unwrap().revision(), "main");
        for bad in [
            "hf:o/r@/m.gguf",
            "hf:o/r@a@b/m.gguf",
            "hf:o/r@:Q8_0",
            "hf:o/r:Q8_0/m.gguf",
        ] {
            assert_eq!(
                parse(bad).unwrap_err().code,
                ErrorCode::InvalidArgument,
                "{bad}"
            );
        }
    }

    #[test]
    fn a_split_gguf_is_every_shard() {
        assert_eq!(
            split_shard("m-Q8_0-00002-of-00003.gguf"),
            Some(("m-Q8_0", 2, 3))
        );
        assert_eq!(split_shard("m-00004-of-00003.gguf"), None);
        assert_eq!(split_shard("m-0001-of-0003.gguf"), None);
        assert_eq!(split_shard("m.gguf"), None);
        assert_eq!(
            shards_of("d/m-00002-of-00003.gguf"),
            [
                "d/m-00001-of-00003.gguf",
                "d/m-00002-of-00003.gguf",
                "d/m-00003-of-00003.gguf"
            ]
        );
        assert_eq!(shards_of("m.gguf"), ["m.gguf"]);
    }

    #[test]
    fn the_timeout_variable_takes_positive_seconds() {
        assert_eq!(parse_timeout(None), Ok(Duration::from_secs(30)));
        assert_eq!(parse_timeout(Some("1.5")), Ok(Duration::from_millis(1500)));
        for bad in ["0", "-1", "soon", "inf", "NaN"] {
            assert!(parse_timeout(Some(bad)).is_err(), "{bad}");
        }
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
            resolve_model(
                "fixtures/x.gguf",
                &HubSettings::from_env(),
                &AtomicBool::new(false)
            )
            .unwrap(),
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
        // The shards of a split GGUF are one file, named by its first shard.
        let split = files(&[
            "big-Q8_0-00002-of-00002.gguf",
            "big-Q8_0-00001-of-00002.gguf",
            "big-Q4_K_M.gguf",
        ]);
        assert_eq!(
            pick(&split, &Target::Quant("q8_0".into())).unwrap(),
            "big-Q8_0-00001-of-00002.gguf"
        );
        let only = files(&["s/x-00001-of-00002.gguf", "s/x-00002-of-00002.gguf"]);
        assert_eq!(
            pick(&only, &Target::Only).unwrap(),
            "s/x-00001-of-00002.gguf"
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
