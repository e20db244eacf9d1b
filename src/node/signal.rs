//! `AbortSignal` arguments.

use std::sync::atomic::{AtomicBool, Ordering};

/// An `AbortSignal` argument: whether it was already aborted, and a flag set on abort.
///
/// napi's own `AbortSignal` only cancels work that has not started and does not tell
/// whether the signal is already aborted; this reads `signal.aborted` first, then registers
/// through napi's `AbortSignal` so that a later `abort()` sets the flag the context thread
/// polls between batches.
pub struct SignalHandle {
    flag: std::sync::Arc<AtomicBool>,
}

impl SignalHandle {
    pub fn flag(&self) -> std::sync::Arc<AtomicBool> {
        self.flag.clone()
    }
}

impl napi::bindgen_prelude::TypeName for SignalHandle {
    fn type_name() -> &'static str {
        "AbortSignal"
    }
    fn value_type() -> napi::ValueType {
        napi::ValueType::Object
    }
}

impl napi::bindgen_prelude::FromNapiValue for SignalHandle {
    // SAFETY: called by napi with a live `env` and a value of that env, which are passed on
    // unchanged to napi's own conversions.
    unsafe fn from_napi_value(
        env: napi::sys::napi_env,
        value: napi::sys::napi_value,
    ) -> napi::Result<Self> {
        use napi::bindgen_prelude::{AbortSignal, Object};
        // SAFETY: as above: the same env and value, converted by napi's checked conversion.
        let object = unsafe { Object::from_napi_value(env, value) }?;
        let aborted: bool = object.get("aborted")?.unwrap_or(false);
        let flag = std::sync::Arc::new(AtomicBool::new(aborted));
        // SAFETY: the same env and value again, converted by napi's checked conversion.
        let signal = unsafe { AbortSignal::from_napi_value(env, value) }?;
        let on_abort = flag.clone();
        signal.on_abort(move || on_abort.store(true, Ordering::Release));
        Ok(Self { flag })
    }
}
