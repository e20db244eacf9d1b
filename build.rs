fn main() {
    napi_build::setup();
    // How the CPU kernels are chosen (`compute_backend::CpuBuild`): "portable" with the
    // portable-cpu feature (ggml's CPU modules, picked at run time), "native" when rustc (and so
    // llama.cpp, through llama-cpp-sys-2) targets the building machine's CPU.
    let rustflags = std::env::var("CARGO_ENCODED_RUSTFLAGS").unwrap_or_default();
    let native = rustflags
        .split('\x1f')
        .any(|f| f.ends_with("target-cpu=native"));
    let portable = std::env::var_os("CARGO_FEATURE_PORTABLE_CPU").is_some();
    let kind = if portable {
        "portable"
    } else if native {
        "native"
    } else {
        "fixed"
    };
    println!("cargo:rustc-env=LLAMA_RERANK_CPU_BUILD={kind}");
    if portable {
        // llama.cpp and ggml are shared libraries in this build: the addon finds them in its
        // own folder, where the platform package puts them.
        match std::env::var("CARGO_CFG_TARGET_OS").as_deref() {
            Ok("linux") => println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,$ORIGIN"),
            Ok("macos") => println!("cargo:rustc-cdylib-link-arg=-Wl,-rpath,@loader_path"),
            _ => {}
        }
    }
}
