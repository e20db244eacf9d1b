#!/usr/bin/env bash
# bash scripts/image_check.sh
#
# Builds deploy/Dockerfile's image on this machine and checks that it serves the same scores as
# the same build outside the container (not in CI or `npm test`: a cold build takes 10-20
# minutes on 2 cores). Needs root (apt, dockerd, debootstrap) on Debian or Ubuntu. Steps:
#
#   1. docker.io and debootstrap from apt when missing; dockerd started when none answers, with
#      no bridge and no iptables rules (containers use the host's network, --network host).
#   2. A base image without any image registry: `debootstrap --variant=minbase bookworm`, plus
#      Node.js (the node-linux-<arch> package) and npm from the npm registry, a "node" user with
#      uid 1000, and this machine's extra CA certificates and apt settings (so that npm and apt
#      inside it work through the same network as here), imported with `docker import`.
#      Cached in ~/.cache/llama-rerank-image; the image is llama-rerank-base:bookworm-node20.
#   3. The prebuilt packages' tarballs, portable CPU build (LLAMA_RERANK_CPU=portable npm run
#      package), built from a copy of the checkout so that its own addon stays as it is.
#   4. `docker build --no-cache --network host --build-arg BASE_IMAGE=… -f deploy/Dockerfile`, a context
#      holding package.json and dist/ with those tarballs: the image installs them.
#   5. The same tarballs installed into an empty project here, then scripts/image_check.mjs: for
#      each reranker fixture, one server in the container (listening on 127.0.0.1, host network,
#      the fixture mounted read-only) and one here, both with the baseline CPU module forced
#      (LLAMA_RERANK_CPU_VARIANT=x64), then both with the module picked at load; POST
#      /v1/rerank with the fixture pairs to both; the scores must be bit-identical, and within
#      the README's figures of the reference.
#
# Settings: NODE_MAJOR (20), LLAMA_RERANK_IMAGE_CACHE (~/.cache/llama-rerank-image),
# IMAGE (llama-rerank:image-check). The containers are removed at the end; the images stay.
set -euo pipefail

# All in one function, read whole before it runs: editing this file mid-run cannot derail it.
main() {
  cd "$(dirname "$0")/.."
  root="$PWD"
  NODE_MAJOR="${NODE_MAJOR:-20}"
  cache="${LLAMA_RERANK_IMAGE_CACHE:-$HOME/.cache/llama-rerank-image}"
  IMAGE="${IMAGE:-llama-rerank:image-check}"
  base="llama-rerank-base:bookworm-node${NODE_MAJOR}"
  log() { printf 'image_check: %s\n' "$*" >&2; }
  mkdir -p "$cache"

  case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64) arch=arm64 ;;
    *) log "unsupported machine $(uname -m)"; exit 2 ;;
  esac
  [ "$(id -u)" -eq 0 ] || { log 'needs root (apt, dockerd, debootstrap)'; exit 2; }

  log "CPU: $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(nproc) threads;" \
    "flags: $(grep -m1 -o -w -E 'avx512_vnni|avx512bw|avx512f|avx2|avx|fma|f16c|sse4_2' /proc/cpuinfo | sort -u | tr '\n' ' ')"
  log "load: $(cat /proc/loadavg)"

  # --- 1. docker and debootstrap ------------------------------------------------------------
  need=()
  command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  command -v debootstrap >/dev/null 2>&1 || need+=(debootstrap)
  if [ ${#need[@]} -gt 0 ]; then
    log "installing ${need[*]}"
    apt-get update -qq
    # docker.io's postinst may try to start the service; without an init system that fails harmlessly.
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
  fi
  if ! docker info >/dev/null 2>&1; then
    log "starting dockerd (--bridge=none --iptables=false), log in $cache/dockerd.log"
    nohup dockerd --bridge=none --iptables=false --ip6tables=false >"$cache/dockerd.log" 2>&1 &
    for _ in $(seq 1 120); do
      docker info >/dev/null 2>&1 && break
      sleep 0.5
    done
    docker info >/dev/null 2>&1 || { log "dockerd did not start:"; tail -20 "$cache/dockerd.log" >&2; exit 1; }
    log "dockerd $(docker version --format '{{.Server.Version}}') running, pid $(pgrep -n -x dockerd)"
  fi
  # The legacy builder: Debian's docker.io has no buildx, and BuildKit would fetch the Dockerfile
  # frontend from Docker Hub. (It reads no <Dockerfile>.dockerignore either: step 4 passes a
  # context that holds only what that file lets through.)
  export DOCKER_BUILDKIT=0

  # --- 2. the base image --------------------------------------------------------------------
  if ! docker image inspect "$base" >/dev/null 2>&1; then
    minbase="$cache/bookworm-minbase.tar"
    if [ ! -f "$minbase" ]; then
      log "debootstrap bookworm (minbase) into $cache/rootfs"
      rm -rf "$cache/rootfs"
      debootstrap --variant=minbase --include=ca-certificates bookworm "$cache/rootfs" http://deb.debian.org/debian >"$cache/debootstrap.log" 2>&1 \
        || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
      rm -rf "$cache/rootfs/var/lib/apt/lists/"* "$cache/rootfs/var/cache/apt/archives/"*.deb
      tar -C "$cache/rootfs" -cf "$minbase.tmp" . && mv "$minbase.tmp" "$minbase"
      rm -rf "$cache/rootfs"
    fi
    stage="$cache/rootfs-node"
    rm -rf "$stage" && mkdir -p "$stage"
    tar -C "$stage" -xf "$minbase"
    # Node.js and npm from the npm registry (node-linux-<arch> holds the node binary; npm's own
    # package bundles its dependencies).
    (cd "$cache" && rm -f node-linux-*.tgz npm-*.tgz && npm pack --silent "node-linux-$arch@$NODE_MAJOR" "npm@10" >/dev/null)
    tar -xzf "$cache"/node-linux-"$arch"-*.tgz -C "$stage/usr/local" --strip-components=1 package/bin/node
    mkdir -p "$stage/usr/local/lib/node_modules/npm"
    tar -xzf "$cache"/npm-*.tgz -C "$stage/usr/local/lib/node_modules/npm" --strip-components=1
    ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$stage/usr/local/bin/npm"
    ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$stage/usr/local/bin/npx"
    # The official node images' user.
    echo 'node:x:1000:1000::/home/node:/bin/sh' >>"$stage/etc/passwd"
    echo 'node:x:1000:' >>"$stage/etc/group"
    mkdir -p "$stage/home/node" && chown 1000:1000 "$stage/home/node"
    # This machine's own CA certificates (a TLS-inspecting proxy re-signs the registry's) and
    # apt settings, so that npm and apt work in the image as they do here.
    if compgen -G '/usr/local/share/ca-certificates/*.crt' >/dev/null; then
      cp /usr/local/share/ca-certificates/*.crt "$stage/usr/local/share/ca-certificates/"
      chroot "$stage" update-ca-certificates >/dev/null
    fi
    printf 'Acquire::Check-Valid-Until "false";\n' >"$stage/etc/apt/apt.conf.d/99image-check"
    node_version="$("$stage/usr/local/bin/node" --version)"
    tar -C "$stage" -c . | docker import \
      -c 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
      -c 'ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt' \
      -c 'CMD ["node"]' - "$base" >/dev/null
    rm -rf "$stage"
    log "base image $base: Debian bookworm minbase, Node $node_version"
  fi

  # --- 3. the portable tarballs -------------------------------------------------------------
  src="$cache/src"
  dist="$cache/dist"
  rm -rf "$src" "$dist" && mkdir -p "$src" "$dist"
  # The checkout's files (committed and not ignored), without its build outputs.
  git ls-files -z --cached --others --exclude-standard | tar --null -T - --ignore-failed-read -cf - | tar -C "$src" -xf -
  ln -s "$root/node_modules" "$src/node_modules"
  log "building the portable tarballs (LLAMA_RERANK_CPU=portable, log in $cache/package.log)"
  started=$SECONDS
  (cd "$src" && LLAMA_RERANK_CPU=portable nice -n 10 npm run --silent package -- "$dist") >"$cache/package.log" 2>&1 \
    || { tail -30 "$cache/package.log" >&2; exit 1; }
  grep 'MB packed' "$cache/package.log" >&2
  log "tarballs built in $((SECONDS - started)) s"
  version="$(node -p "require('$root/package.json').version")"
  main_tgz="$dist/llama-rerank-$version.tgz"
  platform_tgz="$dist/llama-rerank-linux-$arch-gnu-$version.tgz"
  # (The listing first: grep -q would close the pipe on tar, which pipefail counts as a failure.)
  listing="$(tar -tzf "$platform_tgz")"
  grep -q '^package/libggml-cpu-' <<<"$listing" || { log "$platform_tgz has no CPU modules: not a portable build"; exit 1; }

  # --- 4. the image -------------------------------------------------------------------------
  context="$cache/context"
  rm -rf "$context" && mkdir -p "$context/dist"
  cp "$root/package.json" "$context/"
  cp "$main_tgz" "$platform_tgz" "$context/dist/"
  log "docker build -f deploy/Dockerfile --build-arg BASE_IMAGE=$base -t $IMAGE (log in $cache/build.log)"
  started=$SECONDS
  docker build --no-cache --force-rm --network host --build-arg "BASE_IMAGE=$base" -f "$root/deploy/Dockerfile" -t "$IMAGE" "$context" >"$cache/build.log" 2>&1 \
    || { tail -30 "$cache/build.log" >&2; exit 1; }
  log "image $IMAGE built in $((SECONDS - started)) s, $(docker image inspect -f '{{.Size}}' "$IMAGE" | awk '{printf "%.0f MB", $1 / 1e6}')"

  # --- 5. the same packages here, and the comparison ----------------------------------------
  host="$cache/host-project"
  rm -rf "$host" && mkdir -p "$host"
  echo '{"private": true}' >"$host/package.json"
  (cd "$host" && npm install --omit=dev --no-audit --no-fund --loglevel=error "$main_tgz" "$platform_tgz") >&2
  cleanup() {
    docker ps -aq --filter name=llama-rerank-image-check | xargs -r docker rm -f >/dev/null 2>&1 || true
  }
  trap cleanup EXIT
  log "load: $(cat /proc/loadavg)"
  node "$root/scripts/image_check.mjs" --image "$IMAGE" --host-project "$host" --fixtures "$root/fixtures"
}

main "$@"
