#!/usr/bin/env node
// Writes a deterministic corpus of damaged GGUF files, made from the committed fixtures, for
// the robustness tests: truncations, garbage headers, flipped bytes in the metadata and in the
// tensor descriptors, impossible hyper-parameters.
//
//   node scripts/make_damaged_models.mjs OUT_DIR      (prints one line per file)
//
// Every mutation is a pure function of the fixture bytes and a fixed seed, so the corpus is
// the same on every machine.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import path from 'node:path'
import { fileURLToPath } from 'node:url'
// A small deterministic PRNG (mulberry32), shared with the benchmark's workloads.
import { rng as prng } from '../bench/workloads.mjs'

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')

/** A walk over a GGUF header that records where each key's value and each tensor descriptor lie. */
export function walkGguf(buf) {
  let pos = 0
  const u32 = () => {
    const v = buf.readUInt32LE(pos)
    pos += 4
    return v
  }
  const u64 = () => {
    const v = Number(buf.readBigUInt64LE(pos))
    pos += 8
    return v
  }
  const str = () => {
    const n = u64()
    const s = buf.toString('utf8', pos, pos + n)
    pos += n
    return s
  }
  const scalar = { 0: 1, 1: 1, 2: 2, 3: 2, 4: 4, 5: 4, 6: 4, 7: 1, 10: 8, 11: 8, 12: 8 }
  const skipValue = (type) => {
    if (type in scalar) {
      pos += scalar[type]
      return
    }
    if (type === 8) {
      str()
      return
    }
    if (type === 9) {
      const itemType = u32()
      const n = u64()
      for (let i = 0; i < n; i++) skipValue(itemType)
      return
    }
    throw new Error(`unknown type ${type}`)
  }
  pos = 8
  const countsAt = pos
  const nTensors = u64()
  const nKv = u64()
  const keys = {}
  for (let i = 0; i < nKv; i++) {
    const keyAt = pos
    const key = str()
    const typeAt = pos
    const type = u32()
    const valueAt = pos
    skipValue(type)
    keys[key] = { keyAt, typeAt, type, valueAt, end: pos }
  }
  const tensors = []
  for (let i = 0; i < nTensors; i++) {
    const at = pos
    const name = str()
    const nDimsAt = pos
    const nDims = u32()
    const dimsAt = pos
    pos += 8 * nDims
    const typeAt = pos
    pos += 4
    const offsetAt = pos
    pos += 8
    tensors.push({ name, at, nDimsAt, nDims, dimsAt, typeAt, offsetAt })
  }
  return { countsAt, nTensors, nKv, keys, tensors, headerEnd: pos }
}

export function damagedModels() {
  const out = []
  const add = (name, bytes, what) => out.push({ name, bytes: Buffer.from(bytes), what })
  for (const base of ['qwen3-reranker-pooled.gguf', 'bert-reranker-pooler.gguf']) {
    const src = readFileSync(path.join(root, 'fixtures', base))
    const h = walkGguf(src)
    const tag = base.startsWith('qwen3') ? 'qwen3' : 'bert'
    const arch = tag === 'qwen3' ? 'qwen3' : 'bert'
    const edit = (fn) => {
      const b = Buffer.from(src)
      fn(b)
      return b
    }
    const setU32 = (b, at, v) => b.writeUInt32LE(v >>> 0, at)
    const setU64 = (b, at, v) => b.writeBigUInt64LE(BigInt(v), at)

    // truncations
    for (const [label, n] of [
      ['magic-only', 4],
      ['version-only', 8],
      ['counts-cut', 20],
      ['first-key-cut', 40],
      ['header-cut', Math.floor(h.headerEnd / 2)],
      ['header-end-minus-1', h.headerEnd - 1],
      ['data-start', h.headerEnd + 32],
      ['half', Math.floor(src.length / 2)],
      ['minus-1', src.length - 1],
    ])
      add(`${tag}-truncated-${label}.gguf`, src.subarray(0, n), `truncated to ${n} bytes`)

    // header fields
    add(
      `${tag}-version-1.gguf`,
      edit((b) => setU32(b, 4, 1)),
      'GGUF version 1',
    )
    add(
      `${tag}-version-huge.gguf`,
      edit((b) => setU32(b, 4, 0xffffffff)),
      'GGUF version 2^32-1',
    )
    add(
      `${tag}-tensor-count-huge.gguf`,
      edit((b) => setU64(b, h.countsAt, 2n ** 62n)),
      'tensor count 2^62',
    )
    add(
      `${tag}-kv-count-huge.gguf`,
      edit((b) => setU64(b, h.countsAt + 8, 2n ** 40n)),
      'key count 2^40',
    )
    add(
      `${tag}-kv-count-plus-1.gguf`,
      edit((b) => setU64(b, h.countsAt + 8, h.nKv + 1)),
      'one key too many',
    )
    add(
      `${tag}-tensor-count-minus-1.gguf`,
      edit((b) => setU64(b, h.countsAt, h.nTensors - 1)),
      'one tensor missing',
    )
    add(
      `${tag}-tensor-count-plus-1.gguf`,
      edit((b) => setU64(b, h.countsAt, h.nTensors + 1)),
      'one tensor too many',
    )

    // metadata
    const k = h.keys
    add(
      `${tag}-arch-unknown.gguf`,
      edit((b) => {
        b[k['general.architecture'].valueAt + 8] ^= 0x20
      }),
      'architecture name changed',
    )
    add(
      `${tag}-string-length-huge.gguf`,
      edit((b) => setU64(b, k['general.architecture'].valueAt, 2n ** 50n)),
      'string length 2^50',
    )
    add(
      `${tag}-value-type-unknown.gguf`,
      edit((b) => setU32(b, k['general.architecture'].typeAt, 77)),
      'value type 77',
    )
    add(
      `${tag}-block-count-0.gguf`,
      edit((b) => setU32(b, k[`${arch}.block_count`].valueAt, 0)),
      'block_count 0',
    )
    add(
      `${tag}-block-count-huge.gguf`,
      edit((b) => setU32(b, k[`${arch}.block_count`].valueAt, 1_000_000)),
      'block_count 10^6',
    )
    add(
      `${tag}-head-count-0.gguf`,
      edit((b) => setU32(b, k[`${arch}.attention.head_count`].valueAt, 0)),
      'head_count 0',
    )
    add(
      `${tag}-head-count-odd.gguf`,
      edit((b) => setU32(b, k[`${arch}.attention.head_count`].valueAt, 7)),
      'head_count not dividing the width',
    )
    add(
      `${tag}-embedding-length-0.gguf`,
      edit((b) => setU32(b, k[`${arch}.embedding_length`].valueAt, 0)),
      'embedding_length 0',
    )
    if (k[`${arch}.attention.head_count_kv`]) {
      add(
        `${tag}-head-count-kv-0.gguf`,
        edit((b) => setU32(b, k[`${arch}.attention.head_count_kv`].valueAt, 0)),
        'head_count_kv 0',
      )
      add(
        `${tag}-head-count-kv-3.gguf`,
        edit((b) => setU32(b, k[`${arch}.attention.head_count_kv`].valueAt, 3)),
        'head_count_kv not dividing head_count',
      )
    }
    if (k[`${arch}.rope.dimension_count`]) {
      add(
        `${tag}-rope-dims-huge.gguf`,
        edit((b) => setU32(b, k[`${arch}.rope.dimension_count`].valueAt, 4096)),
        'rope dimension 4096',
      )
    }
    if (k[`${arch}.attention.key_length`]) {
      add(
        `${tag}-key-length-0.gguf`,
        edit((b) => setU32(b, k[`${arch}.attention.key_length`].valueAt, 0)),
        'key_length 0',
      )
    }
    add(
      `${tag}-context-length-0.gguf`,
      edit((b) => setU32(b, k[`${arch}.context_length`].valueAt, 0)),
      'context_length 0',
    )
    const tokens = k['tokenizer.ggml.tokens']
    add(
      `${tag}-token-array-count-huge.gguf`,
      edit((b) => setU64(b, tokens.valueAt + 4, 2n ** 48n)),
      'token array length 2^48',
    )
    add(
      `${tag}-token-array-type.gguf`,
      edit((b) => setU32(b, tokens.valueAt, 6)),
      'token array of floats',
    )
    if (k['tokenizer.ggml.token_type']) {
      add(
        `${tag}-token-type-garbage.gguf`,
        edit((b) => {
          b.fill(0x7f, k['tokenizer.ggml.token_type'].valueAt + 12, k['tokenizer.ggml.token_type'].valueAt + 12 + 64)
        }),
        'token types out of range',
      )
    }
    // random flipped bytes inside the key/value section (seeded)
    const rand = prng(tag === 'qwen3' ? 1234 : 5678)
    const kvStart = 24
    const kvEnd = h.tensors[0].at
    for (let i = 0; i < 6; i++) {
      const at = kvStart + Math.floor(rand() * (kvEnd - kvStart))
      add(
        `${tag}-metadata-flip-${i}.gguf`,
        edit((b) => {
          b[at] ^= 0xff
        }),
        `byte ${at} of the metadata flipped`,
      )
    }

    // tensor descriptors
    const t0 = h.tensors[0]
    const tl = h.tensors[h.tensors.length - 1]
    add(
      `${tag}-tensor-offset-misaligned.gguf`,
      edit((b) => setU64(b, tl.offsetAt, Number(b.readBigUInt64LE(tl.offsetAt)) + 1)),
      'tensor offset not aligned',
    )
    add(
      `${tag}-tensor-offset-past-end.gguf`,
      edit((b) => setU64(b, tl.offsetAt, src.length * 4)),
      'tensor offset past the end',
    )
    add(
      `${tag}-tensor-offset-huge.gguf`,
      edit((b) => setU64(b, t0.offsetAt, 2n ** 63n)),
      'tensor offset 2^63',
    )
    add(
      `${tag}-tensor-offset-overlap.gguf`,
      edit((b) => b.writeBigUInt64LE(b.readBigUInt64LE(t0.offsetAt), tl.offsetAt)),
      'two tensors at one offset',
    )
    add(
      `${tag}-tensor-type-unknown.gguf`,
      edit((b) => setU32(b, t0.typeAt, 99)),
      'tensor type 99',
    )
    add(
      `${tag}-tensor-type-changed.gguf`,
      edit((b) => setU32(b, tl.typeAt, 1)),
      'tensor type F32 -> F16',
    )
    add(
      `${tag}-tensor-dims-0.gguf`,
      edit((b) => setU32(b, t0.nDimsAt, 0)),
      'tensor with 0 dimensions',
    )
    add(
      `${tag}-tensor-dims-5.gguf`,
      edit((b) => setU32(b, t0.nDimsAt, 5)),
      'tensor with 5 dimensions',
    )
    add(
      `${tag}-tensor-dim-huge.gguf`,
      edit((b) => setU64(b, t0.dimsAt, 2n ** 40n)),
      'tensor dimension 2^40',
    )
    add(
      `${tag}-tensor-dim-zero.gguf`,
      edit((b) => setU64(b, tl.dimsAt, 0)),
      'tensor dimension 0',
    )
    add(
      `${tag}-tensor-shape-swapped.gguf`,
      edit((b) => {
        const t = h.tensors.find((x) => x.nDims === 2)
        const a = b.readBigUInt64LE(t.dimsAt)
        const c = b.readBigUInt64LE(t.dimsAt + 8)
        b.writeBigUInt64LE(c, t.dimsAt)
        b.writeBigUInt64LE(a, t.dimsAt + 8)
      }),
      'a 2-D tensor transposed',
    )
    add(
      `${tag}-tensor-name-changed.gguf`,
      edit((b) => {
        b[t0.at + 8] ^= 0x01
      }),
      'a tensor renamed',
    )
    add(
      `${tag}-tensor-name-length-huge.gguf`,
      edit((b) => setU64(b, t0.at, 2n ** 45n)),
      'tensor name length 2^45',
    )
    const dataRand = prng(tag === 'qwen3' ? 42 : 43)
    add(
      `${tag}-weights-nan.gguf`,
      edit((b) => {
        // NaN in the weights: the model loads, and scoring must not hand NaN to the caller.
        const start = b.length - 4096
        for (let i = 0; i < 64; i++) b.writeUInt32LE(0x7fc00000, start + 4 * Math.floor(dataRand() * 1000))
      }),
      'NaN weights in the last tensor',
    )
  }
  // foreign files
  const garbage = prng(99)
  add('garbage.gguf', Buffer.from(Array.from({ length: 4096 }, () => Math.floor(garbage() * 256))), 'random bytes')
  add(
    'garbage-with-magic.gguf',
    Buffer.concat([Buffer.from('GGUF'), Buffer.from(Array.from({ length: 4092 }, () => Math.floor(garbage() * 256)))]),
    'GGUF magic then random bytes',
  )
  add('zero-bytes.gguf', Buffer.alloc(0), 'empty file')
  add('text.gguf', Buffer.from('this is not a model\n'.repeat(10)), 'a text file')
  add('safetensors.gguf', Buffer.concat([Buffer.from([8, 0, 0, 0, 0, 0, 0, 0]), Buffer.from('{"a":{}}')]), 'a safetensors header')
  return out
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const dir = process.argv[2]
  if (!dir) {
    console.error('usage: node scripts/make_damaged_models.mjs OUT_DIR')
    process.exit(2)
  }
  mkdirSync(dir, { recursive: true })
  for (const m of damagedModels()) {
    writeFileSync(path.join(dir, m.name), m.bytes)
    console.log(`${m.name}\t${m.bytes.length}\t${m.what}`)
  }
}
