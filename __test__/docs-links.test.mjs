// Every relative link in the README, CONTRIBUTING.md and docs/*.md points at a file or folder
// of the repository, and every `#anchor` at a heading of its target (GitHub's heading ids).
// Uses node: built-ins only, and runs under `node --test` and `bun test` alike.

import assert from 'node:assert/strict'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import path from 'node:path'
import { test } from 'node:test'
import { fileURLToPath } from 'node:url'

const root = path.resolve(fileURLToPath(new URL('..', import.meta.url)))

/** The markdown files whose links are checked, relative to `dir`. */
function documents(dir) {
  const files = ['README.md', 'CONTRIBUTING.md'].filter((f) => existsSync(path.join(dir, f)))
  const docs = path.join(dir, 'docs')
  if (existsSync(docs)) {
    for (const f of readdirSync(docs).sort()) if (f.endsWith('.md')) files.push(`docs/${f}`)
  }
  return files
}

/**
 * The lines of a markdown text outside fenced code blocks, with their 1-based numbers: `raw`
 * as written, `prose` with inline code spans blanked out (a link written in code is no link).
 */
function proseLines(text) {
  const out = []
  let fence = null // the fence that opened the current code block
  text.split(/\r?\n/).forEach((raw, i) => {
    const m = /^ {0,3}(`{3,}|~{3,})(.*)$/.exec(raw)
    if (fence) {
      if (m && m[1][0] === fence[0] && m[1].length >= fence.length && m[2].trim() === '') fence = null
      return
    }
    if (m && !(m[1][0] === '`' && m[2].includes('`'))) {
      fence = m[1]
      return
    }
    out.push({ n: i + 1, raw, prose: raw.replace(/(`+)(?:(?!\1)[\s\S])*?\1/g, (s) => ' '.repeat(s.length)) })
  })
  return out
}

/** GitHub's id for a heading: its text lowercased, punctuation dropped, spaces as hyphens. */
function slug(heading) {
  const text = heading
    .replace(/!?\[([^\]]*)\]\([^)]*\)/g, '$1') // links and images: their text
    .replace(/<[^>]+>/g, '') // HTML tags
    .replace(/`/g, '')
    .replace(/\*/g, '')
    .trim()
    .toLowerCase()
  return text.replace(/[^\p{L}\p{M}\p{N}\p{Pc} -]/gu, '').replace(/ /g, '-')
}

/** The anchors a markdown file defines: heading ids (with GitHub's -1, -2 for repeats) and explicit ids. */
function anchors(text) {
  const seen = new Map()
  const ids = new Set()
  const lines = proseLines(text)
  const add = (base) => {
    const count = seen.get(base) ?? 0
    seen.set(base, count + 1)
    ids.add(count === 0 ? base : `${base}-${count}`)
  }
  for (let i = 0; i < lines.length; i++) {
    const { raw, prose } = lines[i]
    const atx = /^ {0,3}#{1,6}(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$/.exec(raw)
    if (atx) {
      add(slug(atx[1] ?? ''))
    } else if (
      lines[i + 1]?.n === lines[i].n + 1 &&
      raw.trim() !== '' &&
      /^ {0,3}(=+|-+)[ \t]*$/.test(lines[i + 1].raw) &&
      !/^\s*([-*+]|\d+[.)])\s/.test(raw) &&
      !raw.includes('|')
    ) {
      add(slug(raw))
    }
    for (const m of prose.matchAll(/<a\s+(?:[^>]*\s)?(?:id|name)=["']([^"']+)["']/gi)) ids.add(m[1])
  }
  return ids
}

/** Every link of a markdown text: `[text](target)`, `![alt](target)`, `[id]: target`, `<a href>`. */
function links(text) {
  const found = []
  for (const { n, prose: line } of proseLines(text)) {
    for (const m of line.matchAll(/!?\[(?:[^[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s)]+)(?:\s+(?:"[^"]*"|'[^']*'|\([^)]*\)))?\s*\)/g)) {
      found.push({ line: n, target: m[1].replace(/^<|>$/g, '') })
    }
    const def = /^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)/.exec(line)
    if (def) found.push({ line: n, target: def[1].replace(/^<|>$/g, '') })
    for (const m of line.matchAll(/<(?:a|img)\s+[^>]*?(?:href|src)=["']([^"']+)["']/gi)) found.push({ line: n, target: m[1] })
  }
  return found
}

const anchorCache = new Map()
function anchorsOf(file) {
  if (!anchorCache.has(file)) anchorCache.set(file, anchors(readFileSync(file, 'utf8')))
  return anchorCache.get(file)
}

/** The broken relative links of the markdown files under `dir`, as readable lines. */
function brokenLinks(dir) {
  const problems = []
  for (const doc of documents(dir)) {
    const file = path.join(dir, doc)
    for (const { line, target } of links(readFileSync(file, 'utf8'))) {
      if (/^[a-z][a-z0-9+.-]*:/i.test(target) || target.startsWith('//')) continue // a URL
      const where = `${doc}:${line}: ${target}`
      const hash = target.indexOf('#')
      let filePart = hash === -1 ? target : target.slice(0, hash)
      const anchor = hash === -1 ? null : decodeURIComponent(target.slice(hash + 1))
      filePart = decodeURIComponent(filePart.split('?')[0])
      const resolved =
        filePart === '' ? file : filePart.startsWith('/') ? path.join(dir, filePart) : path.resolve(path.dirname(file), filePart)
      if (path.relative(dir, resolved).startsWith('..')) {
        problems.push(`${where}: points outside the repository`)
        continue
      }
      if (!existsSync(resolved)) {
        problems.push(`${where}: no such file or folder`)
        continue
      }
      if (anchor !== null && anchor !== '' && statSync(resolved).isFile() && resolved.endsWith('.md')) {
        if (!anchorsOf(resolved).has(anchor))
          problems.push(`${where}: no heading with the id "${anchor}" in ${path.relative(dir, resolved)}`)
      }
    }
  }
  return problems
}

test('headings get GitHub ids', () => {
  assert.equal(slug('Building from source'), 'building-from-source')
  assert.equal(slug('CPU kernels: native, portable, fixed'), 'cpu-kernels-native-portable-fixed')
  assert.equal(slug('The `/v1/rerank` server: routes, keys'), 'the-v1rerank-server-routes-keys')
  assert.equal(slug('Batch invariance, and what it cost'), 'batch-invariance-and-what-it-cost')
  assert.equal(slug('Coming from node-llama-cpp (`llama-rerank/compat`)'), 'coming-from-node-llama-cpp-llama-rerankcompat')
  assert.equal(slug("The judges' prompts"), 'the-judges-prompts')
  assert.equal(slug('A [link](x.md) and *emphasis*'), 'a-link-and-emphasis')
  assert.deepEqual([...anchors('# A\n\n## A\n\n```\n# not a heading\n```\nB\n---\n<a id="x"></a>\n')], ['a', 'a-1', 'b', 'x'])
})

test('the checker finds a missing file, a missing anchor and a link out of the repository', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'llama-rerank-links-'))
  try {
    mkdirSync(path.join(dir, 'docs'))
    writeFileSync(path.join(dir, 'docs', 'a.md'), '# Page A\n\n## Some section\n')
    writeFileSync(
      path.join(dir, 'README.md'),
      [
        '# Title',
        '[ok](docs/a.md) [ok](docs/a.md#some-section) [ok](#title) [ok](docs/) [web](https://example.com/x)',
        '`[in code](nope.md)`',
        '```',
        '[in a block](nope.md)',
        '```',
        '[gone](docs/missing.md)',
        '[bad anchor](docs/a.md#no-such-section)',
        '[bad local anchor](#nothing)',
        '[outside](../elsewhere.md)',
        '[ref]: docs/ref-missing.md',
      ].join('\n'),
    )
    assert.deepEqual(brokenLinks(dir), [
      'README.md:7: docs/missing.md: no such file or folder',
      'README.md:8: docs/a.md#no-such-section: no heading with the id "no-such-section" in docs/a.md',
      'README.md:9: #nothing: no heading with the id "nothing" in README.md',
      'README.md:10: ../elsewhere.md: points outside the repository',
      'README.md:11: docs/ref-missing.md: no such file or folder',
    ])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('every relative link in README.md, CONTRIBUTING.md and docs/ resolves', () => {
  const docs = documents(root)
  assert.ok(docs.includes('README.md') && docs.includes('CONTRIBUTING.md') && docs.some((d) => d.startsWith('docs/')), docs.join(', '))
  assert.ok(docs.reduce((sum, d) => sum + links(readFileSync(path.join(root, d), 'utf8')).length, 0) > 20, 'the docs link to each other')
  const problems = brokenLinks(root)
  assert.deepEqual(problems, [], `broken links:\n${problems.join('\n')}`)
})

test('the README stays one page, and no document holds a merge-conflict marker', () => {
  const readme = readFileSync(path.join(root, 'README.md'), 'utf8')
  const lines = readme.split('\n').length
  assert.ok(lines <= 250, `README.md has ${lines} lines: move details to docs/`)
  for (const d of documents(root)) {
    const marker = readFileSync(path.join(root, d), 'utf8')
      .split('\n')
      .findIndex((line) => /^(<{7}|={7}|>{7})( |$)/.test(line))
    assert.equal(marker, -1, `${d}:${marker + 1} holds a merge-conflict marker`)
  }
})
