//! The hub's HTTP API: a repository's file list, a file's metadata, and its download into the
//! cache (resumed with `Range`, checked for size and sha256).

use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use indicatif::{HumanBytes, ProgressBar, ProgressStyle};
use serde::Deserialize;

use super::cache::{basename, cached_snapshot, link_blob, repo_folder};
use super::download::{lock_blob, timeout_error, verify, Control, Heartbeat, LockError};
use super::settings::HubSettings;
use super::uri::{valid_name, HubUri, SCHEME};
use crate::error::{ErrorCode, RerankError, Result};

/// Attempts after a cut connection within one call; each resumes where the last stopped.
const RETRIES: usize = 3;

/// The part of the hub's model API answer (`/api/models/<repo>/revision/<rev>`) that is read.
#[derive(Debug, Deserialize)]
struct RepoInfo {
    siblings: Vec<RepoFile>,
    /// The commit the revision points at; required, as the hub always sends it.
    #[serde(rename = "sha")]
    _commit: String,
}

/// One file of a repository.
#[derive(Debug, Deserialize)]
struct RepoFile {
    /// Its path inside the repository.
    rfilename: String,
}

/// What the hub says about a file before it is downloaded.
#[derive(Debug)]
pub(super) struct Metadata {
    pub(super) commit: String,
    /// The sha256 for LFS files (GGUFs), a git hash for small files.
    pub(super) etag: String,
    pub(super) size: u64,
    /// Where the bytes are: the storage URL the hub redirects to, or the resolve URL.
    pub(super) url: String,
}

/// Percent-encodes a path segment.
pub(super) fn encode(segment: &str) -> String {
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

pub(super) fn origin(url: &str) -> &str {
    let after_scheme = url.find("://").map_or(0, |i| i + 3);
    match url[after_scheme..].find('/') {
        Some(i) => &url[..after_scheme + i],
        None => url,
    }
}

pub(super) struct Client<'a> {
    settings: &'a HubSettings,
    timeout: Duration,
    /// Follows no redirect: the resolve answer's headers are the file's metadata.
    direct: ureq::Agent,
    /// Follows redirects, to the storage URL.
    follow: ureq::Agent,
}

impl<'a> Client<'a> {
    pub(super) fn new(settings: &'a HubSettings, timeout: Duration) -> Self {
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
    pub(super) fn list_files(&self, uri: &HubUri, control: &Control) -> Result<Vec<String>> {
        let url = format!(
            "{}/api/models/{}/revision/{}",
            self.settings.endpoint,
            uri.repo,
            encode(uri.revision())
        );
        let what = format!("{SCHEME}{}", uri.repo_with_revision());
        let response = self.call(self.get(&self.follow, &url), &what, control)?;
        let info: RepoInfo = response.into_json().map_err(|e| {
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
    pub(super) fn fetch(&self, uri: &HubUri, file: &str, control: &Control) -> Result<PathBuf> {
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

pub(super) enum Failure {
    /// A cut connection: worth resuming.
    Cut(std::io::Error),
    Final(RerankError),
}

pub(super) fn write_error(what: &str, e: std::io::Error) -> RerankError {
    RerankError::new(
        ErrorCode::HubDownload,
        format!("{what}: cannot write to the cache"),
    )
    .caused_by(&e)
}

pub(super) fn is_timeout(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        std::io::ErrorKind::TimedOut | std::io::ErrorKind::WouldBlock
    )
}

pub(super) fn timed_out(t: &ureq::Transport) -> bool {
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

/// Turns a failed request into an error with a stable code and a message that says what to do.
pub(super) fn request_error(error: ureq::Error, what: &str, settings: &HubSettings) -> RerankError {
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
