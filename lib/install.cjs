#!/usr/bin/env node
// The package's install script. With a prebuilt package for this platform
// (`llama-rerank-<platform>`, an optional dependency) it does nothing: the prebuilt path needs
// no script, which is what Bun (no scripts for untrusted dependencies) relies on.
// Otherwise, or with LLAMA_RERANK_BUILD_FROM_SOURCE=1, it builds the addon from the sources the
// package ships (Cargo.toml, Cargo.lock, build.rs, src/) and puts it beside index.js, where the
// loader looks first. It checks the tools first and names every missing one; the addon appears
// only once it has loaded, so a failed build leaves no package that breaks later.
//
// Settings: LLAMA_RERANK_BUILD_FROM_SOURCE=1 (build even when a prebuilt fits),
// LLAMA_RERANK_GPU=cuda|vulkan|metal (a GPU backend), LLAMA_RERANK_CPU=native|portable|fixed
// (native, the default: llama.cpp compiled for this machine's CPU, every SIMD extension it has;
// portable: the prebuilt packages' build, one CPU module per CPU level picked at load; fixed:
// ggml's default kernel set; see lib/cpu_build.cjs), CARGO_TARGET_DIR
// (where cargo builds; default a folder inside the package that is removed afterwards).
'use strict'

const { spawnSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { platformSuffix, cargoLibraryName } = require('./platform.cjs')
const { cpuBuild, hostTriple } = require('./cpu_build.cjs')

const packageDir = path.resolve(__dirname, '..')
const truthy = (v) => v != null && v !== '' && v !== '0' && v.toLowerCase() !== 'false'
const log = (message) => process.stderr.write(`llama-rerank: ${message}\n`)

function prebuiltPackageDir(suffix) {
  try {
    const manifest = require.resolve(`llama-rerank-${suffix}/package.json`, { paths: [packageDir] })
    const dir = path.dirname(manifest)
    return fs.existsSync(path.join(dir, `llama-rerank.${suffix}.node`)) ? dir : null
  } catch {
    return null
  }
}

function which(command) {
  const exts = process.platform === 'win32' ? (process.env.PATHEXT || '.EXE;.CMD;.BAT').split(';') : ['']
  for (const dir of (process.env.PATH || '').split(path.delimiter)) {
    if (!dir) continue
    for (const ext of exts) {
      const candidate = path.join(dir, command + ext)
      try {
        fs.accessSync(candidate, fs.constants.X_OK)
        if (fs.statSync(candidate).isFile()) return candidate
      } catch {}
    }
  }
  return null
}

/** Where bindgen (through clang-sys) would find libclang, or null. */
function findLibclang() {
  const isLib = (name) =>
    process.platform === 'win32'
      ? /^(lib)?clang\.dll$/i.test(name)
      : process.platform === 'darwin'
        ? name === 'libclang.dylib'
        : /^libclang(-[0-9.]+)?\.so(\.[0-9]+)*$/.test(name)
  const dirs = []
  if (process.env.LIBCLANG_PATH) dirs.push(process.env.LIBCLANG_PATH)
  const llvmConfig = spawnSync('llvm-config', ['--libdir'], { encoding: 'utf8' })
  if (llvmConfig.status === 0) dirs.push(llvmConfig.stdout.trim())
  if (process.platform === 'linux') {
    for (const root of ['/usr/lib', '/usr/lib64', '/usr/local/lib', '/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu']) {
      dirs.push(root)
      try {
        for (const entry of fs.readdirSync(root)) if (/^llvm/.test(entry)) dirs.push(path.join(root, entry, 'lib'))
      } catch {}
    }
  } else if (process.platform === 'darwin') {
    dirs.push(
      '/Library/Developer/CommandLineTools/usr/lib',
      '/Applications/Xcode.app/Contents/Developer/Toolchains/XcodeDefault.xctoolchain/usr/lib',
      '/opt/homebrew/opt/llvm/lib',
      '/usr/local/opt/llvm/lib',
    )
  } else if (process.platform === 'win32') {
    for (const base of [process.env.ProgramFiles, process.env['ProgramFiles(x86)']]) {
      if (base) dirs.push(path.join(base, 'LLVM', 'bin'))
    }
  }
  for (const dir of dirs) {
    try {
      if (fs.readdirSync(dir).some(isLib)) return dir
    } catch {}
  }
  return null
}

function hasMsvc() {
  const vswhere = path.join(
    process.env['ProgramFiles(x86)'] || 'C:\\Program Files (x86)',
    'Microsoft Visual Studio',
    'Installer',
    'vswhere.exe',
  )
  if (!fs.existsSync(vswhere)) return which('cl') != null
  const r = spawnSync(
    vswhere,
    ['-latest', '-products', '*', '-requires', 'Microsoft.VisualStudio.Component.VC.Tools.x86.x64', '-property', 'installationPath'],
    { encoding: 'utf8' },
  )
  return r.status === 0 && r.stdout.trim() !== ''
}

const INSTALL_HINTS = {
  cargo: {
    what: 'the Rust toolchain (cargo, rustc)',
    debian: 'curl https://sh.rustup.rs -sSf | sh   (or: apt-get install cargo)',
    fedora: 'curl https://sh.rustup.rs -sSf | sh   (or: dnf install cargo)',
    macos: 'curl https://sh.rustup.rs -sSf | sh   (or: brew install rust)',
    windows: 'winget install Rustlang.Rustup',
  },
  cmake: {
    what: 'CMake',
    debian: 'apt-get install cmake',
    fedora: 'dnf install cmake',
    macos: 'brew install cmake',
    windows: 'winget install Kitware.CMake',
  },
  'c-compiler': {
    what: 'a C and C++ compiler',
    debian: 'apt-get install build-essential',
    fedora: 'dnf install gcc gcc-c++ make',
    macos: 'xcode-select --install',
    windows: 'install Visual Studio Build Tools with the "Desktop development with C++" workload',
  },
  libclang: {
    what: "libclang (bindgen reads llama.cpp's headers with it)",
    debian: 'apt-get install libclang-dev clang',
    fedora: 'dnf install clang-devel',
    macos: 'xcode-select --install   (or: brew install llvm)',
    windows: 'winget install LLVM.LLVM   (then set LIBCLANG_PATH to its bin folder if it is not found)',
  },
  glslc: {
    what: 'the Vulkan SDK (headers, loader and the glslc shader compiler), for LLAMA_RERANK_GPU=vulkan',
    debian: 'apt-get install libvulkan-dev glslc spirv-headers',
    fedora: 'dnf install vulkan-loader-devel glslc spirv-headers-devel',
    macos: 'brew install vulkan-loader vulkan-headers shaderc molten-vk',
    windows: 'install the LunarG Vulkan SDK and set VULKAN_SDK',
  },
  nvcc: {
    what: 'the CUDA toolkit (nvcc), for LLAMA_RERANK_GPU=cuda',
    debian: 'apt-get install nvidia-cuda-toolkit',
    fedora: "install the CUDA toolkit from NVIDIA's repository",
    macos: 'CUDA is not available on macOS: use LLAMA_RERANK_GPU=metal',
    windows: 'install the CUDA toolkit from NVIDIA',
  },
}

/** Names of the tools a source build needs and that are missing here. */
function missingTools(gpu) {
  const missing = []
  if (!which('cargo') || !which('rustc')) missing.push('cargo')
  if (!which('cmake')) missing.push('cmake')
  if (process.platform === 'win32') {
    if (!hasMsvc()) missing.push('c-compiler')
  } else {
    const cc = process.env.CC || ['cc', 'gcc', 'clang'].find(which)
    const cxx = process.env.CXX || ['c++', 'g++', 'clang++'].find(which)
    if (!cc || !cxx || (process.env.CC && !which(process.env.CC)) || (process.env.CXX && !which(process.env.CXX))) {
      missing.push('c-compiler')
    }
  }
  if (!findLibclang()) missing.push('libclang')
  if (gpu === 'vulkan' && !(which('glslc') || process.env.VULKAN_SDK)) missing.push('glslc')
  if (gpu === 'cuda' && !which('nvcc')) missing.push('nvcc')
  return missing
}

function missingToolsMessage(missing, why) {
  const lines = [`cannot build the native addon from source (${why}). Missing:`]
  for (const name of missing) {
    const hint = INSTALL_HINTS[name]
    lines.push(`  - ${hint.what}`)
    lines.push(`      Debian/Ubuntu: ${hint.debian}`)
    lines.push(`      Fedora:        ${hint.fedora}`)
    lines.push(`      macOS:         ${hint.macos}`)
    lines.push(`      Windows:       ${hint.windows}`)
  }
  lines.push('Install them and run the install again (npm rebuild llama-rerank).')
  return lines.join('\n')
}

async function main() {
  // In a clone of the repository the addon is built with `npm run build` (scripts/setup.sh).
  if (!packageDir.split(path.sep).includes('node_modules')) return 0

  const suffix = platformSuffix()
  const fromSource = truthy(process.env.LLAMA_RERANK_BUILD_FROM_SOURCE)
  const addonPath = path.join(packageDir, `llama-rerank.${suffix}.node`)
  if (!fromSource) {
    if (prebuiltPackageDir(suffix)) return 0
    if (fs.existsSync(addonPath)) return 0
  }

  let cpu
  try {
    cpu = cpuBuild()
  } catch (e) {
    log(e.message)
    return 1
  }
  const gpu = (process.env.LLAMA_RERANK_GPU || '').toLowerCase()
  if (gpu && !['cuda', 'vulkan', 'metal'].includes(gpu)) {
    log(`LLAMA_RERANK_GPU must be cuda, vulkan or metal, not "${process.env.LLAMA_RERANK_GPU}"`)
    return 1
  }
  const why = fromSource ? 'LLAMA_RERANK_BUILD_FROM_SOURCE is set' : `no prebuilt llama-rerank-${suffix} package fits this machine`
  const missing = missingTools(gpu)
  if (missing.length > 0) {
    log(missingToolsMessage(missing, why))
    return 1
  }

  const ownTarget = !process.env.CARGO_TARGET_DIR
  const targetDir = process.env.CARGO_TARGET_DIR ? path.resolve(process.env.CARGO_TARGET_DIR) : path.join(packageDir, 'target')
  // With an explicit --target, as `napi build` passes it: a CARGO_TARGET_DIR shared with a
  // checkout's `npm run build` then reuses its compiled llama.cpp instead of building it again.
  const host = hostTriple()
  if (!host) {
    log('cannot tell the host target from `rustc -vV`')
    return 1
  }
  const args = ['build', '--release', '--locked', '--lib', '--target', host]
  const features = [gpu, ...cpu.features].filter(Boolean)
  if (features.length) args.push('--features', features.join(','))
  log(`${why}: building from source for ${cpu.label} with cargo ${args.join(' ')} (3-15 minutes; CARGO_TARGET_DIR=${targetDir})`)
  const build = spawnSync('cargo', args, {
    cwd: packageDir,
    stdio: ['ignore', 'inherit', 'inherit'],
    env: { ...process.env, CARGO_TARGET_DIR: targetDir, RUSTFLAGS: cpu.rustflags },
  })
  if (build.status !== 0) {
    log(`the source build failed (cargo exited with ${build.status ?? build.signal}); see cargo's output above.`)
    return 1
  }

  const built = path.join(targetDir, host, 'release', cargoLibraryName())
  if (cpu.cpu === 'portable') {
    // llama.cpp, ggml and the CPU modules are shared libraries: beside the addon, where it
    // looks for them.
    const { sharedLibraries } = await import('./shared_libraries.mjs')
    for (const f of sharedLibraries({ ...process.env, LLAMA_RERANK_CPU: cpu.cpu, CARGO_TARGET_DIR: targetDir })) {
      fs.copyFileSync(f, path.join(packageDir, path.basename(f)))
    }
  }
  // A `.node` suffix, or require() would read the staged file as JavaScript.
  const staged = addonPath.replace(/\.node$/, `.${process.pid}.tmp.node`)
  fs.copyFileSync(built, staged)
  // The addon must load before it takes its place, so nothing half-built is left behind.
  const check = spawnSync(process.execPath, ['-e', `require(${JSON.stringify(staged)})`], {
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
  })
  if (check.status !== 0) {
    fs.rmSync(staged, { force: true })
    log(`the addon built but does not load:\n${check.stderr}`)
    return 1
  }
  fs.renameSync(staged, addonPath)
  if (ownTarget && !truthy(process.env.LLAMA_RERANK_KEEP_TARGET)) fs.rmSync(targetDir, { recursive: true, force: true })
  log(`built ${path.basename(addonPath)}${gpu ? ` with ${gpu}` : ''}`)
  return 0
}

main().then(
  (code) => {
    process.exitCode = code
  },
  (e) => {
    log(String(e?.stack ?? e))
    process.exitCode = 1
  },
)
