// This machine in the napi-rs package layout: which per-platform package and addon file fit it.
'use strict'

/** The platform suffix of the napi-rs layout: linux-x64-gnu, darwin-arm64, win32-x64-msvc, … */
function platformSuffix() {
  const { platform, arch } = process
  if (platform === 'linux') {
    const glibc = process.report?.getReport?.().header?.glibcVersionRuntime
    return `linux-${arch}-${glibc ? 'gnu' : 'musl'}`
  }
  if (platform === 'win32') return `win32-${arch}-msvc`
  return `${platform}-${arch}`
}

/** The file name cargo gives the `llama_rerank` cdylib on this OS. */
function cargoLibraryName() {
  if (process.platform === 'win32') return 'llama_rerank.dll'
  if (process.platform === 'darwin') return 'libllama_rerank.dylib'
  return 'libllama_rerank.so'
}

module.exports = { platformSuffix, cargoLibraryName }

/**
 * The error thrown when no addon loads: which package was expected and the two ways to get
 * an addon (the prebuilt package, or a source build that the package manager must allow).
 */
function missingAddonError(cause) {
  const suffix = platformSuffix()
  const error = new Error(
    `llama-rerank: no native addon for ${suffix}. Either the prebuilt package ` +
      `llama-rerank-${suffix} was not installed (optional dependencies skipped, or no prebuilt ` +
      `for this platform), or the source build did not run. To build from source, allow the ` +
      `install script and reinstall: npm: \`npm install-scripts approve llama-rerank && npm rebuild llama-rerank\`; ` +
      `Bun: add "trustedDependencies": ["llama-rerank"] to package.json and run \`bun install\`; ` +
      `pnpm: \`pnpm approve-builds\`. See the README's "Build from source".`,
    { cause },
  )
  error.code = 'ERR_NO_NATIVE_ADDON'
  return error
}

module.exports.missingAddonError = missingAddonError
