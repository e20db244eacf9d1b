//! Where a model's layers run: the GPU backend compiled in (if any device is present), how
//! many layers llama.cpp puts on it, and the CPU kernel set of this build.

use llama_cpp_2::{list_llama_ggml_backend_devices, LlamaBackendDeviceType};

/// The compute placement of one loaded model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComputePlacement {
    /// `"CPU"`, or the GPU backend's name as ggml reports it (`"Vulkan"`, `"CUDA"`, `"Metal"`).
    pub backend: String,
    /// The GPU's description, when layers run on one.
    pub device: Option<String>,
    /// Layers offloaded to the GPU, counted as llama.cpp counts them (repeating layers + output).
    pub gpu_layers: u32,
    /// The model's offloadable layers (repeating layers + output).
    pub layer_count: u32,
}

impl ComputePlacement {
    /// The placement llama.cpp chooses for a model of `block_count` layers when asked for
    /// `requested` GPU layers (`None`: all of them).
    pub fn for_model(block_count: u32, requested: Option<u32>) -> Self {
        let layer_count = block_count + 1;
        let gpu = list_llama_ggml_backend_devices().into_iter().find(|d| {
            matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            )
        });
        match gpu {
            Some(device) => {
                let gpu_layers = requested.map_or(layer_count, |n| n.min(layer_count));
                Self {
                    backend: if gpu_layers == 0 {
                        "CPU".into()
                    } else {
                        device.backend
                    },
                    device: (gpu_layers > 0).then_some(device.description),
                    gpu_layers,
                    layer_count,
                }
            }
            None => Self {
                backend: "CPU".into(),
                device: None,
                gpu_layers: 0,
                layer_count,
            },
        }
    }
}

/// The GPU backends compiled into this build (`"cuda"`, `"vulkan"`, `"metal"`), whether or
/// not a device is present.
pub fn compiled_gpu_backends() -> Vec<&'static str> {
    let mut backends = Vec::new();
    if cfg!(feature = "cuda") {
        backends.push("cuda");
    }
    if cfg!(feature = "vulkan") {
        backends.push("vulkan");
    }
    if cfg!(any(
        feature = "metal",
        all(target_os = "macos", target_arch = "aarch64")
    )) {
        backends.push("metal");
    }
    backends
}

/// The CPU features llama.cpp's kernels use in this build, read from its system info line
/// (`"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | … |"`): the names set to 1, in its order.
pub fn cpu_features() -> Vec<String> {
    parse_cpu_features(&crate::ffi::system_info())
}

fn parse_cpu_features(system_info: &str) -> Vec<String> {
    let mut features = Vec::new();
    for section in system_info.split(" | ").flat_map(|s| s.split('|')) {
        // "CPU : SSE3 = 1" carries its first feature after the backend's name.
        let item = section.rsplit(" : ").next().unwrap_or(section).trim();
        if let Some((name, value)) = item.split_once('=') {
            let (name, value) = (name.trim(), value.trim());
            if value == "1" && !name.is_empty() && !features.iter().any(|f| f == name) {
                features.push(name.to_owned());
            }
        }
    }
    features
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_features_set_to_one() {
        let line = "CPU : SSE3 = 1 | SSSE3 = 1 | AVX = 1 | AVX2 = 1 | F16C = 1 | FMA = 1 | AVX512 = 0 | OPENMP = 1 | REPACK = 1 | ";
        assert_eq!(
            parse_cpu_features(line),
            ["SSE3", "SSSE3", "AVX", "AVX2", "F16C", "FMA", "OPENMP", "REPACK"]
        );
    }

    #[test]
    fn this_build_reports_a_cpu_backend_line() {
        crate::engine::backend();
        let info = crate::ffi::system_info();
        assert!(info.contains("CPU"), "{info}");
    }

    #[test]
    fn without_a_gpu_everything_runs_on_the_cpu() {
        crate::engine::backend();
        let has_gpu = list_llama_ggml_backend_devices().iter().any(|d| {
            matches!(
                d.device_type,
                LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
            )
        });
        let placement = ComputePlacement::for_model(28, None);
        assert_eq!(placement.layer_count, 29);
        if !has_gpu {
            assert_eq!(placement.backend, "CPU");
            assert_eq!(placement.gpu_layers, 0);
        } else {
            assert_eq!(placement.gpu_layers, 29);
        }
    }
}
