//! Every `unsafe` block of the crate that calls llama.cpp, ggml or the OS lives here, each
//! with a `// SAFETY:` line (the one other is napi's `AbortSignal` conversion, in the napi
//! layer: `tests/layout.rs` checks both).
//!
//! llama.cpp reports why it refused a file only through its log callback; this module
//! installs a callback that keeps the last error lines of the calling thread, so that a
//! failed load can carry llama.cpp's own words as its cause.

use std::cell::RefCell;
use std::ffi::{c_char, c_void, CStr};
use std::sync::atomic::{AtomicBool, Ordering};

const KEPT_LINES: usize = 8;

thread_local! {
    static ERROR_LINES: RefCell<Vec<String>> = const { RefCell::new(Vec::new()) };
}

static FORWARD_TO_STDERR: AtomicBool = AtomicBool::new(false);

// SAFETY: only llama.cpp calls it, as its log callback, with a level and a NUL-terminated
// line (or null) valid for the call.
unsafe extern "C" fn record_log(
    level: llama_cpp_sys_2::ggml_log_level,
    text: *const c_char,
    _user: *mut c_void,
) {
    if text.is_null() {
        return;
    }
    // SAFETY: llama.cpp passes a NUL-terminated string that lives for the duration of the call;
    // the null case is handled above.
    let line = unsafe { CStr::from_ptr(text) }.to_string_lossy();
    if FORWARD_TO_STDERR.load(Ordering::Relaxed) {
        eprint!("{line}");
    }
    if level == llama_cpp_sys_2::GGML_LOG_LEVEL_ERROR {
        let line = line.trim().to_owned();
        if line.is_empty() {
            return;
        }
        // try_with: the callback may run while the thread is being torn down.
        let _ = ERROR_LINES.try_with(|lines| {
            let mut lines = lines.borrow_mut();
            if lines.len() == KEPT_LINES {
                lines.remove(0);
            }
            lines.push(line);
        });
    }
}

/// Routes llama.cpp's log into [`take_error_lines`]; with `verbose`, also to stderr.
pub fn install_log_callback(verbose: bool) {
    FORWARD_TO_STDERR.store(verbose, Ordering::Relaxed);
    // SAFETY: `record_log` is a plain function valid for the whole process, and the user data
    // pointer is unused.
    unsafe { llama_cpp_sys_2::llama_log_set(Some(record_log), std::ptr::null_mut()) };
}

/// The error lines llama.cpp logged on this thread since the last call.
pub fn take_error_lines() -> Vec<String> {
    ERROR_LINES.with(|lines| std::mem::take(&mut *lines.borrow_mut()))
}

/// llama.cpp's system info line: each backend's compiled features, e.g.
/// `"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | …"`.
pub fn system_info() -> String {
    static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
    let _guard = LOCK.lock().unwrap_or_else(|e| e.into_inner());
    // SAFETY: llama_print_system_info returns a pointer to a static buffer that it fills on
    // each call; it is copied out at once. Calls are serialised by the mutex, since the buffer
    // is shared.
    let ptr = unsafe { llama_cpp_sys_2::llama_print_system_info() };
    if ptr.is_null() {
        return String::new();
    }
    // SAFETY: non-null, NUL-terminated, and alive until the next call, which the lock excludes.
    unsafe { CStr::from_ptr(ptr) }
        .to_string_lossy()
        .into_owned()
}

/// What stops a decode from inside: llama.cpp polls [`DecodeInterrupt::is_raised`] through
/// its abort callback between the nodes of the compute graph, so an abort, a dispose or the
/// process's exit ends a running decode within one graph node instead of one batch.
#[derive(Debug, Default)]
pub struct DecodeInterrupt {
    flags: std::sync::Mutex<Vec<std::sync::Arc<AtomicBool>>>,
}

impl DecodeInterrupt {
    /// The flags that interrupt decodes from now on (the running call's abort and the
    /// context's disposal), replacing the previous ones.
    pub fn watch(&self, flags: Vec<std::sync::Arc<AtomicBool>>) {
        *self.flags.lock().unwrap_or_else(|p| p.into_inner()) = flags;
    }

    /// Whether a watched flag is set.
    pub fn is_raised(&self) -> bool {
        self.flags
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .iter()
            .any(|f| f.load(Ordering::Acquire))
    }
}

// SAFETY: only llama.cpp calls it, as the abort callback `with_abort_callback` sets, with the
// data pointer set there.
unsafe extern "C" fn decode_interrupted(data: *mut c_void) -> bool {
    if data.is_null() {
        return false;
    }
    // SAFETY: `data` is the `DecodeInterrupt` that `with_abort_callback` registered; the
    // scoring context keeps that `Arc` alive for as long as the llama.cpp context exists.
    let interrupt = unsafe { &*data.cast::<DecodeInterrupt>() };
    interrupt.is_raised()
}

/// `params` with llama.cpp's abort callback polling `interrupt`, and whether it was set.
///
/// `llama-cpp-2` 0.1.160 keeps `llama_context_params` private, with no setter for the abort
/// callback. Its `LlamaContextParams` is a struct of that one field, so the raw struct is
/// reached by a pointer cast, after checking that the sizes match and that the fields read
/// through the cast are the ones the wrapper reports. If either check fails (a future
/// version changed the layout) the callback is not set and aborts wait for the batch.
/// The caller must keep `interrupt` alive as long as any context made from the result.
pub fn with_abort_callback(
    params: llama_cpp_2::context::params::LlamaContextParams,
    interrupt: &std::sync::Arc<DecodeInterrupt>,
) -> (llama_cpp_2::context::params::LlamaContextParams, bool) {
    use llama_cpp_2::context::params::LlamaContextParams;
    use llama_cpp_sys_2::llama_context_params;
    let mut params = params;
    if std::mem::size_of::<LlamaContextParams>() != std::mem::size_of::<llama_context_params>()
        || std::mem::align_of::<LlamaContextParams>()
            != std::mem::align_of::<llama_context_params>()
    {
        return (params, false);
    }
    let expected = (
        params.n_ctx().map_or(0, |n| n.get()),
        params.n_batch(),
        params.n_ubatch(),
        params.n_seq_max(),
        params.n_threads(),
        params.n_threads_batch(),
    );
    let raw = std::ptr::addr_of_mut!(params).cast::<llama_context_params>();
    // SAFETY: `raw` points to `params`, which is live, writable and (checked above) exactly
    // the size and alignment of `llama_context_params`; the fields read are plain integers.
    let seen = unsafe {
        (
            (*raw).n_ctx,
            (*raw).n_batch,
            (*raw).n_ubatch,
            (*raw).n_seq_max,
            (*raw).n_threads,
            (*raw).n_threads_batch,
        )
    };
    if seen != expected {
        return (params, false);
    }
    // SAFETY: as above, and the fields just read match the wrapper's, so `raw` is its
    // `llama_context_params`. The callback is a plain function; its data pointer stays valid
    // while the caller keeps `interrupt` alive, which outlives the context.
    unsafe {
        (*raw).abort_callback = Some(decode_interrupted);
        (*raw).abort_callback_data = std::sync::Arc::as_ptr(interrupt).cast_mut().cast();
    }
    (params, true)
}

/// The file this code was loaded from (the `.node` addon, or the executable that links the
/// crate statically), as the dynamic loader reports it. `None` where it cannot tell.
#[cfg(unix)]
pub fn own_library_path() -> Option<std::path::PathBuf> {
    library_of(own_library_path as *const c_void)
}

#[cfg(not(unix))]
pub fn own_library_path() -> Option<std::path::PathBuf> {
    None
}

/// The shared object that holds `address`.
#[cfg(unix)]
fn library_of(address: *const c_void) -> Option<std::path::PathBuf> {
    use std::os::unix::ffi::OsStrExt;
    if address.is_null() {
        return None;
    }
    // SAFETY: an all-zero Dl_info is a valid value (null pointers); dladdr only writes to it.
    let mut info: libc::Dl_info = unsafe { std::mem::zeroed() };
    // SAFETY: `address` is a code address in this process; dladdr reads no memory at it and
    // fills `info`, whose `dli_fname` then points to the loader's own copy of the file name,
    // valid while the object stays loaded (ours is, for as long as this code runs).
    let found = unsafe { libc::dladdr(address, &mut info) };
    if found == 0 || info.dli_fname.is_null() {
        return None;
    }
    // SAFETY: non-null and NUL-terminated (see above); copied out at once.
    let name = unsafe { CStr::from_ptr(info.dli_fname) };
    Some(std::path::PathBuf::from(std::ffi::OsStr::from_bytes(
        name.to_bytes(),
    )))
}

#[cfg(not(unix))]
fn library_of(_address: *const c_void) -> Option<std::path::PathBuf> {
    None
}

/// Loads every ggml backend module found in `dir` (for the CPU: the best variant this CPU can
/// run), as `ggml_backend_load_all_from_path` does.
pub fn load_backends_from(dir: &std::path::Path) {
    let Ok(dir) = std::ffi::CString::new(dir.to_string_lossy().as_bytes()) else {
        return;
    };
    // SAFETY: a valid NUL-terminated path that outlives the call; ggml copies what it keeps.
    unsafe { llama_cpp_sys_2::ggml_backend_load_all_from_path(dir.as_ptr()) }
}

/// Loads one ggml backend module file; whether ggml accepted it (it refuses a CPU variant
/// this CPU cannot run).
pub fn load_backend_file(file: &std::path::Path) -> bool {
    let Ok(file) = std::ffi::CString::new(file.to_string_lossy().as_bytes()) else {
        return false;
    };
    // SAFETY: a valid NUL-terminated path that outlives the call; the returned registry is
    // owned by ggml and only compared with null here.
    !unsafe { llama_cpp_sys_2::ggml_backend_load(file.as_ptr()) }.is_null()
}

/// Whether a CPU backend is registered with ggml.
pub fn has_cpu_backend() -> bool {
    // SAFETY: a lookup in ggml's device registry; the result is only compared with null.
    !unsafe {
        llama_cpp_sys_2::ggml_backend_dev_by_type(llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_CPU)
    }
    .is_null()
}

/// The file of the CPU backend in use: a `libggml-cpu-<variant>` module in a portable build,
/// the addon itself where ggml is linked in.
pub fn cpu_backend_file() -> Option<std::path::PathBuf> {
    // SAFETY: registry lookups; every pointer is checked for null before use, and the proc
    // address is only passed to dladdr, never called. The name is a NUL-terminated literal.
    let address = unsafe {
        let device = llama_cpp_sys_2::ggml_backend_dev_by_type(
            llama_cpp_sys_2::GGML_BACKEND_DEVICE_TYPE_CPU,
        );
        if device.is_null() {
            return None;
        }
        let registry = llama_cpp_sys_2::ggml_backend_dev_backend_reg(device);
        if registry.is_null() {
            return None;
        }
        llama_cpp_sys_2::ggml_backend_reg_get_proc_address(
            registry,
            c"ggml_backend_get_features".as_ptr(),
        )
    };
    library_of(address.cast_const())
}
