//! Teardown: the live contexts of each JavaScript environment, disposed and joined when the
//! environment goes (or the process exits), so no llama.cpp call runs while it unloads.

use std::sync::{Arc, Mutex, Weak};

use napi::bindgen_prelude::*;

use super::promise::{blocking, CoreResult};
use crate::llama::GATE;
use crate::worker::{ContextShared, ContextWorker};

/// Live contexts per JavaScript environment (keyed by the env's address). When an
/// environment is torn down (process exit, worker thread end), its contexts are disposed and
/// their threads joined, so no llama.cpp call is running while the process unloads.
static LIVE_CONTEXTS: Mutex<Vec<(usize, Weak<ContextWorker>)>> = Mutex::new(Vec::new());

/// Registers the environment's cleanup hook once; call on the JavaScript thread before work
/// that may start a context for this environment.
pub(super) fn watch_env(env: &Env) -> Result<usize> {
    static WATCHED: Mutex<Vec<usize>> = Mutex::new(Vec::new());
    let key = env.raw() as usize;
    let mut watched = WATCHED.lock().unwrap_or_else(|p| p.into_inner());
    if !watched.contains(&key) {
        env.add_env_cleanup_hook(key, |key| {
            WATCHED
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .retain(|k| *k != key);
            dispose_contexts_of(Some(key));
        })?;
        watched.push(key);
    }
    Ok(key)
}

/// Records a context as live for the environment `key`, from the thread that started it, so
/// that an exit right after it started still finds it.
pub(super) fn track_context(key: usize, worker: &Arc<ContextWorker>) {
    let mut live = LIVE_CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
    live.retain(|(_, w)| w.strong_count() > 0);
    live.push((key, Arc::downgrade(worker)));
}

/// Starts a context thread for the environment `key`, under the exit gate.
pub(super) fn start_context(
    key: usize,
    shared: Arc<ContextShared>,
) -> CoreResult<Arc<ContextWorker>> {
    let _pass = GATE.enter()?;
    let worker = Arc::new(ContextWorker::start(shared)?);
    track_context(key, &worker);
    Ok(worker)
}

/// Disposes the live contexts of one JavaScript environment (all of them for `None`) and
/// joins their threads: a running call stops after its current batch, and nothing of
/// llama.cpp runs afterwards.
pub(super) fn dispose_contexts_of(key: Option<usize>) {
    let workers: Vec<Arc<ContextWorker>> = {
        let mut live = LIVE_CONTEXTS.lock().unwrap_or_else(|p| p.into_inner());
        let (mine, others): (Vec<_>, Vec<_>) = live
            .drain(..)
            .partition(|(k, _)| key.is_none_or(|key| *k == key));
        *live = others;
        mine.into_iter().filter_map(|(_, w)| w.upgrade()).collect()
    };
    for worker in workers {
        if let Some(thread) = worker.dispose() {
            let _ = thread.join();
        }
    }
}

/// Disposes the contexts an exit would run under: see `RankingContext.releaseForExit`.
pub(super) fn release_for_exit(env: Env, main_thread: bool) {
    if main_thread {
        GATE.close();
        dispose_contexts_of(None);
    } else {
        dispose_contexts_of(Some(env.raw() as usize));
    }
}

pub(super) async fn join_all(threads: Vec<std::thread::JoinHandle<()>>) -> CoreResult<()> {
    if threads.is_empty() {
        return Ok(());
    }
    blocking(move || {
        for t in threads {
            let _ = t.join();
        }
        Ok(())
    })
    .await
}
