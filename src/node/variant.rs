//! Which package of the addon runs (`model.info.variant`), as `index.js` chose it before
//! loading the addon (lib/variant.cjs), and the GPU devices a GPU variant package's probe asks
//! for (`gpuDevices()`).

use std::sync::Mutex;

use napi_derive::napi;

/// A GPU device llama.cpp can put layers on, as ggml's backend registry lists it.
#[napi(object)]
pub struct GpuDevice {
    /// The backend: `"Vulkan"`, `"CUDA"` or `"Metal"`.
    pub backend: String,
    /// The device's name in its backend: `"Vulkan0"`, `"CUDA0"`, ….
    pub name: String,
    /// What the driver calls it, e.g. `"NVIDIA GeForce RTX 4090"`.
    pub description: String,
    /// Whether it is an integrated GPU (memory shared with the CPU).
    pub integrated: bool,
    /// Its memory in bytes, as the driver reports it.
    pub memory_total: f64,
}

/// The GPU devices this addon would put layers on: those its GPU backend (a GPU variant
/// package, or a source build with `LLAMA_RERANK_GPU`) finds. `[]` for a CPU build or without
/// a device. llama.cpp's Vulkan backend leaves out CPU-type devices (Mesa's lavapipe) unless
/// `GGML_VK_VISIBLE_DEVICES` names them, so they count only then.
#[napi]
pub fn gpu_devices() -> Vec<GpuDevice> {
    crate::llama::placement::gpu_devices()
        .into_iter()
        .map(|d| GpuDevice {
            backend: d.backend,
            name: d.name,
            description: d.description,
            integrated: d.integrated,
            memory_total: d.memory_total as f64,
        })
        .collect()
}

static SELECTED: Mutex<Option<(String, String)>> = Mutex::new(None);

/// Records the choice `index.js` made (see `RerankerModel.setVariant`).
pub(super) fn set(variant: String, reason: String) {
    *SELECTED.lock().unwrap_or_else(|p| p.into_inner()) = Some((variant, reason));
}

/// The variant and the reason for it: as `index.js` recorded them, else (the addon loaded
/// without it, e.g. through `NAPI_RS_NATIVE_LIBRARY_PATH`) what this build is.
pub(super) fn current() -> (String, String) {
    if let Some(selected) = SELECTED.lock().unwrap_or_else(|p| p.into_inner()).clone() {
        return selected;
    }
    let compiled = crate::llama::placement::compiled_gpu_backends();
    let variant = ["cuda", "vulkan"]
        .into_iter()
        .find(|b| compiled.contains(b))
        .unwrap_or("cpu");
    (
        variant.into(),
        format!("this addon was loaded without llama-rerank's index.js, which picks the package; it is a {variant} build"),
    )
}
