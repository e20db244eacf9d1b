//! `ExitGate`: lets the process exit while llama.cpp work is in flight without crashing.
//!
//! `process.exit()` (and an uncaught error) end a Node process with `exit()`, which runs
//! llama.cpp's static destructors on the main thread. Any other thread still inside llama.cpp
//! then touches freed state and the process dies with SIGSEGV or SIGABRT instead of its own
//! exit status. Work that enters llama.cpp from a pool thread (loading a model, creating a
//! context) holds a [`WorkPass`]; [`ExitGate::close`] refuses new passes, makes model loads stop at their
//! next progress callback, and waits for the passes out. Ranking calls run on context threads,
//! which the binding disposes and joins itself.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{RwLock, RwLockReadGuard};

use crate::error::{ErrorCode, RerankError, Result};

/// See the module documentation; the process has one, [`GATE`].
pub struct ExitGate {
    exiting: AtomicBool,
    work: RwLock<()>,
}

/// The process's gate.
pub static GATE: ExitGate = ExitGate::new();

/// Held while a pool thread is inside llama.cpp; [`ExitGate::close`] waits for it to drop.
pub struct WorkPass<'a>(#[allow(dead_code)] RwLockReadGuard<'a, ()>);

impl ExitGate {
    pub const fn new() -> Self {
        Self {
            exiting: AtomicBool::new(false),
            work: RwLock::new(()),
        }
    }

    /// A pass for llama.cpp work, or `ERR_DISPOSED` once the process is exiting.
    /// Once closed, it answers at once; a caller that races with `close` waits until the
    /// process is gone, which is what it would have seen anyway.
    pub fn enter(&self) -> Result<WorkPass<'_>> {
        let exiting = || RerankError::new(ErrorCode::Disposed, "the process is exiting");
        if self.exiting() {
            return Err(exiting());
        }
        let guard = self.work.read().unwrap_or_else(|p| p.into_inner());
        if self.exiting() {
            return Err(exiting());
        }
        Ok(WorkPass(guard))
    }

    /// Whether [`ExitGate::close`] has been called: long llama.cpp calls poll it to stop early.
    pub fn exiting(&self) -> bool {
        self.exiting.load(Ordering::Acquire)
    }

    /// Refuses new work and waits until no pass is held. The gate stays closed: the process
    /// is about to exit.
    pub fn close(&self) {
        self.exiting.store(true, Ordering::Release);
        std::mem::forget(self.work.write().unwrap_or_else(|p| p.into_inner()));
    }
}

impl Default for ExitGate {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, Instant};

    #[test]
    fn close_waits_for_passes_and_refuses_new_ones() {
        static GATE: ExitGate = ExitGate::new();
        let (entered, wait_entered) = std::sync::mpsc::channel();
        let holder = std::thread::spawn(move || {
            let pass = GATE.enter().expect("open gate");
            entered.send(()).unwrap();
            std::thread::sleep(Duration::from_millis(100));
            drop(pass);
        });
        wait_entered.recv().unwrap();
        let started = Instant::now();
        GATE.close();
        assert!(started.elapsed() >= Duration::from_millis(50));
        assert!(GATE.exiting());
        assert_eq!(
            GATE.enter().err().map(|e| e.code),
            Some(ErrorCode::Disposed)
        );
        holder.join().unwrap();
    }
}
