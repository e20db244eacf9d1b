//! Where and how to reach the hub: the Hugging Face environment variables.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Duration;

const DEFAULT_ENDPOINT: &str = "https://huggingface.co";
/// `LLAMA_RERANK_HUB_TIMEOUT`'s default: seconds without any progress before a call gives up.
pub const DEFAULT_TIMEOUT_SECS: f64 = 30.0;

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

pub(super) fn truthy(value: &str) -> bool {
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
pub(super) fn parse_timeout(value: Option<&str>) -> std::result::Result<Duration, String> {
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
