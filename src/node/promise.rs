//! Promises and errors: work off the JavaScript thread, settled with a [`RerankError`] turned
//! into a JavaScript error with a stable `code` and its causes.

use std::future::Future;

use napi::bindgen_prelude::*;

use crate::error::{ErrorCode, RerankError};

pub(crate) type CoreResult<T> = std::result::Result<T, RerankError>;

// ---------------------------------------------------------------------------------------------
// Errors and promises

pub(super) fn js_error(env: &Env, error: &RerankError) -> Error {
    let build = || -> Result<Error> {
        let global = env.get_global()?;
        let ctor_name = if error.code.js_name() == "TypeError" {
            "TypeError"
        } else {
            "Error"
        };
        let ctor: Function<String, Unknown> = global.get_named_property(ctor_name)?;
        let instance = ctor.new_instance(error.to_string())?;
        let mut object = Object::from_unknown(instance)?;
        object.set_named_property("code", error.code.as_str())?;
        if error.code.js_name() != ctor_name {
            object.set_named_property("name", error.code.js_name())?;
        }
        // The cause chain as nested errors, innermost last.
        let mut cause: Option<Object> = None;
        for text in error.causes.iter().rev() {
            let err_ctor: Function<String, Unknown> = global.get_named_property("Error")?;
            let mut c = Object::from_unknown(err_ctor.new_instance(text.clone())?)?;
            if let Some(inner) = cause.take() {
                c.set_named_property("cause", inner)?;
            }
            cause = Some(c);
        }
        if let Some(c) = cause {
            object.set_named_property("cause", c)?;
        }
        Ok(Error::from(object.to_unknown()))
    };
    build().unwrap_or_else(|e| e)
}

/// Runs `work` off the JavaScript thread and settles a promise with its outcome.
pub(super) fn settle<'env, T, V, F, C>(
    env: &'env Env,
    work: F,
    to_js: C,
) -> Result<PromiseRaw<'env, V>>
where
    T: Send + 'static,
    V: ToNapiValue,
    F: Future<Output = CoreResult<T>> + Send + 'static,
    C: FnOnce(&'env Env, T) -> Result<V> + 'static,
{
    env.spawn_future_with_callback(
        async move { Ok(work.await) },
        move |env, outcome| match outcome {
            Ok(value) => to_js(env, value),
            Err(error) => Err(js_error(env, &error)),
        },
    )
}

pub(super) fn rejected<'env, V: ToNapiValue + 'static>(
    env: &'env Env,
    error: RerankError,
) -> Result<PromiseRaw<'env, V>> {
    settle(
        env,
        async move { Err::<(), _>(error) },
        |_, ()| -> Result<V> { unreachable!("always rejected") },
    )
}

/// Runs blocking work on tokio's blocking pool, turning a panic into an error.
pub(super) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> CoreResult<T> + Send + 'static,
) -> CoreResult<T> {
    tokio::task::spawn_blocking(move || {
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)).unwrap_or_else(|_| {
            Err(RerankError::new(
                ErrorCode::Internal,
                "a panic inside llama-rerank",
            ))
        })
    })
    .await
    .unwrap_or_else(|e| {
        Err(
            RerankError::new(ErrorCode::Internal, "a blocking task failed")
                .with_cause(e.to_string()),
        )
    })
}
