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

/// A GPU device as ggml's backend registry lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct GpuDevice {
    /// The backend's name (`"Vulkan"`, `"CUDA"`, `"Metal"`).
    pub backend: String,
    /// The device's name in its backend (`"Vulkan0"`, `"CUDA0"`).
    pub name: String,
    /// What the driver calls it (`"NVIDIA GeForce RTX 4090"`, `"llvmpipe (LLVM 19.1.7, 256 bits)"`).
    pub description: String,
    /// `true` for an integrated GPU (memory shared with the CPU).
    pub integrated: bool,
    /// The device's memory in bytes, as the driver reports it.
    pub memory_total: u64,
}

/// The GPU devices llama.cpp would put layers on, from ggml's backend registry: those of the
/// backends compiled in (or, in a portable build, loaded from its folder) that found a device.
/// llama.cpp's Vulkan backend leaves out CPU-type devices (Mesa's lavapipe) unless
/// `GGML_VK_VISIBLE_DEVICES` names them, so they are counted only then. Empty for a CPU build.
pub fn gpu_devices() -> Vec<GpuDevice> {
    crate::llama::backend();
    list_llama_ggml_backend_devices()
        .into_iter()
        .filter_map(|d| {
            let integrated = match d.device_type {
                LlamaBackendDeviceType::Gpu => false,
                LlamaBackendDeviceType::IntegratedGpu => true,
                _ => return None,
            };
            Some(GpuDevice {
                backend: d.backend,
                name: d.name,
                description: d.description,
                integrated,
                memory_total: d.memory_total as u64,
            })
        })
        .collect()
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

/// llama.cpp's system info line (each backend's features: `"CPU : SSE3 = 1 | AVX = 1 | …"`).
pub fn system_info() -> String {
    crate::llama::ffi::system_info()
}

/// The CPU features llama.cpp's kernels use in this build, read from its system info line
/// (`"CPU : SSE3 = 1 | AVX = 1 | AVX2 = 1 | … |"`): the names set to 1, in its order.
pub fn cpu_features() -> Vec<String> {
    parse_cpu_features(&crate::llama::ffi::system_info())
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

// The addon finds its CPU modules through dladdr, which Windows lacks.
#[cfg(all(windows, feature = "portable-cpu"))]
compile_error!("portable-cpu is not supported on Windows yet: build with LLAMA_RERANK_CPU=fixed");

/// How this build chose its CPU kernels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CpuBuild {
    /// Compiled for the building machine's CPU (`-C target-cpu=native`, llama.cpp's
    /// `GGML_NATIVE`): every SIMD extension it has, and runs only on CPUs like it.
    Native,
    /// ggml's CPU backend built once per CPU level as loadable modules, the best one for the
    /// running CPU picked at load (`LLAMA_RERANK_CPU=portable`, the prebuilt packages).
    Portable,
    /// One fixed kernel set, as the compiler's target allows (neither of the above).
    Fixed,
}

impl CpuBuild {
    /// This build's kind, as `build.rs` recorded it.
    pub fn current() -> Self {
        match env!("LLAMA_RERANK_CPU_BUILD") {
            "native" => Self::Native,
            "portable" => Self::Portable,
            _ => Self::Fixed,
        }
    }

    /// `"native"`, `"portable"` or `"fixed"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Native => "native",
            Self::Portable => "portable",
            Self::Fixed => "fixed",
        }
    }
}

/// Where a portable build looks for ggml's CPU modules, first match wins:
/// `LLAMA_RERANK_BACKEND_DIR`, the addon's own folder (the platform package ships them beside
/// it), then the folder the build wrote them to.
fn backend_dirs() -> Vec<std::path::PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("LLAMA_RERANK_BACKEND_DIR").filter(|d| !d.is_empty()) {
        dirs.push(dir.into());
    }
    if let Some(dir) =
        crate::llama::ffi::own_library_path().and_then(|p| p.parent().map(Into::into))
    {
        dirs.push(dir);
    }
    if let Some(dir) = llama_cpp_sys_2::BACKENDS_DIR {
        dirs.push(dir.into());
    }
    dirs
}

/// The file name of CPU variant `name` (`"haswell"`, `"x64"`, …) on this platform.
fn variant_file_name(name: &str) -> String {
    if cfg!(windows) {
        format!("ggml-cpu-{name}.dll")
    } else if cfg!(target_os = "macos") {
        format!("libggml-cpu-{name}.dylib")
    } else {
        format!("libggml-cpu-{name}.so")
    }
}

/// The variant name in a CPU module's file name (`libggml-cpu-haswell.so` → `haswell`).
fn variant_of(file: &std::path::Path) -> Option<String> {
    let stem = file.file_name()?.to_str()?;
    let rest = stem
        .strip_prefix("lib")
        .unwrap_or(stem)
        .strip_prefix("ggml-cpu-")?;
    Some(rest.split('.').next()?.to_owned())
}

/// The GPU backend modules in `dir` (`libggml-vulkan.so`, `ggml-cuda.dll`, …): what a portable
/// GPU variant package ships beside its CPU modules.
fn gpu_modules(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return Vec::new();
    };
    let mut modules: Vec<_> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            p.file_name().and_then(|n| n.to_str()).is_some_and(|n| {
                let n = n.strip_prefix("lib").unwrap_or(n);
                ["ggml-vulkan.", "ggml-cuda.", "ggml-metal."]
                    .iter()
                    .any(|m| n.starts_with(m))
                    && [".so", ".dll", ".dylib"].iter().any(|e| n.ends_with(e))
            })
        })
        .collect();
    modules.sort();
    modules
}

fn has_cpu_modules(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir)
        .is_ok_and(|entries| entries.flatten().any(|e| variant_of(&e.path()).is_some()))
}

/// Registers ggml's CPU backend before llama.cpp starts. A portable build loads the best CPU
/// module for this CPU (or the one `LLAMA_RERANK_CPU_VARIANT` names: `x64` is the baseline
/// every x86-64 CPU runs); other builds have it linked in. Err: why no CPU backend is there.
pub fn register_cpu_backend() -> Result<(), String> {
    if CpuBuild::current() == CpuBuild::Portable {
        let dirs = backend_dirs();
        let Some(dir) = dirs.iter().find(|d| has_cpu_modules(d)) else {
            return Err(format!(
                "this portable build found none of ggml's CPU modules (libggml-cpu-*) in {}; \
                 set LLAMA_RERANK_BACKEND_DIR to their folder",
                dirs.iter()
                    .map(|d| d.display().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        };
        match std::env::var("LLAMA_RERANK_CPU_VARIANT") {
            Ok(name) if !name.is_empty() => {
                let file = dir.join(variant_file_name(&name));
                if !crate::llama::ffi::load_backend_file(&file) {
                    return Err(format!(
                        "LLAMA_RERANK_CPU_VARIANT={name}: {} is missing or this CPU cannot run it",
                        file.display()
                    ));
                }
                // A GPU variant package ships its GPU backend as a module beside the CPU ones.
                for module in gpu_modules(dir) {
                    crate::llama::ffi::load_backend_file(&module);
                }
            }
            _ => crate::llama::ffi::load_backends_from(dir),
        }
    }
    if crate::llama::ffi::has_cpu_backend() {
        Ok(())
    } else {
        Err("ggml has no CPU backend registered (no module this CPU can run)".into())
    }
}

/// The CPU module in use in a portable build (`"haswell"`, `"skylakex"`, `"x64"`, …).
pub fn cpu_variant() -> Option<String> {
    if CpuBuild::current() != CpuBuild::Portable {
        return None;
    }
    crate::llama::ffi::cpu_backend_file().and_then(|f| variant_of(&f))
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
    fn reads_the_variant_from_a_module_file_name() {
        use std::path::Path;
        assert_eq!(
            variant_of(Path::new("/x/libggml-cpu-haswell.so")).as_deref(),
            Some("haswell")
        );
        assert_eq!(
            variant_of(Path::new("ggml-cpu-x64.dll")).as_deref(),
            Some("x64")
        );
        assert_eq!(
            variant_of(Path::new("/x/llama-rerank.linux-x64-gnu.node")),
            None
        );
        assert_eq!(
            variant_of(Path::new(&variant_file_name("sse42"))).as_deref(),
            Some("sse42")
        );
    }

    #[test]
    fn finds_the_gpu_modules_beside_the_cpu_ones() {
        let dir =
            std::env::temp_dir().join(format!("llama-rerank-gpu-modules-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        for f in [
            "libggml-cpu-x64.so",
            "libggml-vulkan.so",
            "ggml-cuda.dll",
            "libggml.so",
            "README.md",
        ] {
            std::fs::write(dir.join(f), b"").unwrap();
        }
        let names: Vec<String> = gpu_modules(&dir)
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(names, ["ggml-cuda.dll", "libggml-vulkan.so"]);
    }

    #[test]
    fn lists_only_gpu_devices() {
        let devices = gpu_devices();
        let expected = list_llama_ggml_backend_devices()
            .iter()
            .filter(|d| {
                matches!(
                    d.device_type,
                    LlamaBackendDeviceType::Gpu | LlamaBackendDeviceType::IntegratedGpu
                )
            })
            .count();
        assert_eq!(devices.len(), expected);
        if compiled_gpu_backends().is_empty() {
            assert_eq!(devices, []);
        }
    }

    #[test]
    fn a_portable_build_names_the_cpu_module_it_runs() {
        crate::llama::backend();
        match CpuBuild::current() {
            CpuBuild::Portable => assert!(cpu_variant().is_some(), "no CPU module in use"),
            _ => assert_eq!(cpu_variant(), None),
        }
    }

    #[test]
    fn this_build_reports_a_cpu_backend_line() {
        crate::llama::backend();
        let info = crate::llama::ffi::system_info();
        assert!(info.contains("CPU"), "{info}");
    }

    #[test]
    fn without_a_gpu_everything_runs_on_the_cpu() {
        crate::llama::backend();
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
