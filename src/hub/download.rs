//! A download that an abort stops and a stall times out, and the lock that one download of a
//! file holds (another process waiting for it sees its progress).

use std::fs::{File, OpenOptions};
use std::io::Read;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use sha2::{Digest, Sha256};

use super::client::Metadata;
use crate::error::{ErrorCode, RerankError, Result};

/// How often the waiting call looks at its signal and at the download's progress.
const POLL: Duration = Duration::from_millis(10);
/// How often a process waiting for another one's download looks at its lock.
const LOCK_POLL: Duration = Duration::from_millis(100);
/// After an abort or a timeout, how long the call waits for the download thread to close its
/// connection before it returns anyway. The thread stops at its next read either way: at once
/// while bytes flow, at the read timeout on a stalled connection.
const GRACE: Duration = Duration::from_millis(100);

/// What a download thread shares with the call waiting for it.
#[derive(Default)]
pub(super) struct Control {
    /// Set by the waiting call on an abort or a timeout; the thread stops at its next step.
    cancel: AtomicBool,
    /// Bumped by every sign of progress: bytes received, an answer, another process's download
    /// growing. A call gives up when it stays still for the timeout.
    ticks: AtomicU64,
}

impl Control {
    pub(super) fn tick(&self) {
        self.ticks.fetch_add(1, Ordering::Relaxed);
    }

    /// `Err` once the waiting call has given up.
    pub(super) fn check(&self) -> Result<()> {
        if self.cancel.load(Ordering::Acquire) {
            Err(RerankError::aborted())
        } else {
            Ok(())
        }
    }

    /// Sleeps `total`, returning early with `Err` when the call gives up.
    pub(super) fn sleep(&self, total: Duration) -> Result<()> {
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

pub(super) fn timeout_error(what: &str, endpoint: &str, timeout: Duration) -> RerankError {
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
pub(super) fn run_stoppable<T: Send + 'static>(
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

pub(super) enum LockError {
    Stopped(RerankError),
    Io(std::io::Error),
}

/// Takes the file lock of a blob, waiting while another process (or call) holds it: that one
/// is downloading the file, and its `.part` file growing (or its lock file touched) counts as
/// progress, so the wait ends with the timeout only when the other download stalls.
pub(super) fn lock_blob(
    path: &Path,
    part: &Path,
    control: &Control,
) -> std::result::Result<File, LockError> {
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
pub(super) struct Heartbeat<'a> {
    file: &'a File,
    last: std::cell::Cell<Instant>,
}

impl<'a> Heartbeat<'a> {
    pub(super) fn new(file: &'a File) -> Self {
        Self {
            file,
            last: std::cell::Cell::new(Instant::now()),
        }
    }

    pub(super) fn beat(&self) {
        if self.last.get().elapsed() >= Duration::from_secs(1) {
            self.last.set(Instant::now());
            let _ = self.file.set_modified(SystemTime::now());
        }
    }
}

/// Checks the downloaded file against the size the hub announced and, when the ETag is a
/// sha256 (as it is for LFS files such as GGUFs), against that digest. A bad file is removed.
pub(super) fn verify(
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

pub(super) fn sha256_file(
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
