import '../../src/util/polyfill.js'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkOperations, type KvOperation, kvModel, type Model, type Operation } from './linearizability.js'

function get(clientId: number, key: string, value: string, callMs: number, returnMs: number): KvOperation {
  return { clientId, input: { op: 'get', key }, output: value, callMs, returnMs }
}

function put(clientId: number, key: string, value: string, callMs: number, returnMs: number): KvOperation {
  return { clientId, input: { op: 'put', key, value }, output: '', callMs, returnMs }
}

function append(clientId: number, key: string, value: string, callMs: number, returnMs: number): KvOperation {
  return { clientId, input: { op: 'append', key, value }, output: '', callMs, returnMs }
}

/** The same operation, but its client never heard back. */
function neverReturned(op: KvOperation): KvOperation {
  return { clientId: op.clientId, input: op.input, callMs: op.callMs, pending: true }
}

/** xorshift32: a tiny seeded generator so that a failing seed replays exactly. */
function xorshift32(seed: number): { next(): number; int(n: number): number } {
  let x = seed >>> 0 || 1
  const next = (): number => {
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    return (x >>> 0) / 4294967296
  }
  return { next, int: (n) => Math.floor(next() * n) }
}

function verdict(history: KvOperation[]): string {
  return checkOperations(kvModel, history).result
}

test('an empty history and a sequential one are linearizable', () => {
  assert.is(verdict([]), 'ok')
  assert.is(
    verdict([
      get(0, 'x', '', 0, 1),
      put(0, 'x', 'a', 2, 3),
      get(1, 'x', 'a', 4, 5),
      append(1, 'x', 'b', 6, 7),
      get(0, 'x', 'ab', 8, 9),
      put(2, 'x', '', 10, 11),
      get(2, 'x', '', 12, 13),
    ]),
    'ok',
  )
})

test('a sequential history with a wrong read is illegal', () => {
  assert.is(verdict([put(0, 'x', 'a', 0, 1), get(0, 'x', 'b', 2, 3)]), 'illegal')
  assert.is(verdict([get(0, 'x', 'a', 0, 1)]), 'illegal')
})

test('classic concurrent case: reads inside a long write may see either value', () => {
  // Porcupine's register example: the write spans both reads, which may order around it.
  const history = [put(0, 'x', '100', 0, 100), get(1, 'x', '100', 25, 75), get(2, 'x', '', 30, 60)]
  assert.is(verdict(history), 'ok')
})

test('classic illegal case: a read goes back to the old value after another read saw the new one', () => {
  const history = [put(0, 'x', '200', 0, 100), get(1, 'x', '200', 10, 30), get(2, 'x', '', 40, 90)]
  assert.is(verdict(history), 'illegal')
})

test('a read of a value never written is illegal', () => {
  const history = [put(0, 'x', 'a', 0, 10), get(1, 'x', 'zzz', 5, 15), put(2, 'x', 'b', 3, 12)]
  assert.is(verdict(history), 'illegal')
})

test('a stale read after a write completed strictly before it began is illegal', () => {
  const history = [put(0, 'x', '1', 0, 10), put(0, 'x', '2', 20, 30), get(1, 'x', '1', 40, 50)]
  assert.is(verdict(history), 'illegal')
  // Touching intervals count as concurrent (calls sort before returns at equal times).
  assert.is(verdict([put(0, 'x', '1', 0, 10), put(0, 'x', '2', 20, 30), get(1, 'x', '1', 30, 50)]), 'ok')
})

test('a read overlapping a write may see the value before it or after it, nothing else', () => {
  const before = [put(0, 'x', '1', 0, 10), put(1, 'x', '2', 20, 40)]
  assert.is(verdict([...before, get(2, 'x', '1', 25, 35)]), 'ok')
  assert.is(verdict([...before, get(2, 'x', '2', 25, 35)]), 'ok')
  assert.is(verdict([...before, get(2, 'x', '', 25, 35)]), 'illegal')
})

test('concurrent appends land in either order, each exactly once; sequential ones in call order', () => {
  const both = [append(0, 'x', 'a', 0, 10), append(1, 'x', 'b', 5, 15)]
  assert.is(verdict([...both, get(2, 'x', 'ab', 20, 30)]), 'ok')
  assert.is(verdict([...both, get(2, 'x', 'ba', 20, 30)]), 'ok')
  assert.is(verdict([...both, get(2, 'x', 'a', 20, 30)]), 'illegal')
  assert.is(verdict([...both, get(2, 'x', 'abb', 20, 30)]), 'illegal')
  // Two readers must agree on the order.
  assert.is(verdict([...both, get(2, 'x', 'ab', 20, 30), get(3, 'x', 'ba', 20, 30)]), 'illegal')
  const sequential = [append(0, 'x', 'a', 0, 10), append(1, 'x', 'b', 11, 15)]
  assert.is(verdict([...sequential, get(2, 'x', 'ab', 20, 30)]), 'ok')
  assert.is(verdict([...sequential, get(2, 'x', 'ba', 20, 30)]), 'illegal')
})

test('a write that never returned may or may not have taken effect', () => {
  const lost = neverReturned(put(0, 'x', '1', 5, 6))
  assert.is(verdict([lost, get(1, 'x', '', 10, 20), get(1, 'x', '', 30, 40)]), 'ok')
  assert.is(verdict([lost, get(1, 'x', '1', 10, 20), get(1, 'x', '1', 30, 40)]), 'ok')
  // It may take effect long after its client gave up.
  assert.is(verdict([lost, get(1, 'x', '', 10, 20), get(1, 'x', '1', 30, 40)]), 'ok')
  const lostAppend = neverReturned(append(0, 'x', 'b', 15, 16))
  const base = [append(1, 'x', 'a', 0, 10), lostAppend]
  assert.is(verdict([...base, get(2, 'x', 'a', 20, 30)]), 'ok')
  assert.is(verdict([...base, get(2, 'x', 'ab', 20, 30)]), 'ok')
  assert.is(verdict([...base, get(2, 'x', 'ba', 20, 30)]), 'illegal')
  // A get that never returned constrains nothing.
  assert.is(verdict([neverReturned(get(0, 'x', '', 0, 1)), put(1, 'x', '1', 2, 3)]), 'ok')
})

test('a write that never returned, once observed, stays in effect and cannot predate its call', () => {
  const lost = neverReturned(put(0, 'x', '1', 5, 6))
  const observed = [lost, get(1, 'x', '1', 10, 20)]
  assert.is(verdict([...observed, put(2, 'x', '2', 30, 40), get(1, 'x', '2', 50, 60)]), 'ok')
  // Taking effect twice is impossible.
  assert.is(verdict([...observed, put(2, 'x', '2', 30, 40), get(1, 'x', '1', 50, 60)]), 'illegal')
  assert.is(verdict([...observed, get(1, 'x', '', 30, 40)]), 'illegal')
  // Seen before it was even called.
  assert.is(verdict([get(1, 'x', '1', 0, 4), lost]), 'illegal')
})

test('an illegal history over two keys is reported in the partition of the bad key', () => {
  const history = [
    put(0, 'a', '1', 0, 10),
    put(1, 'b', '1', 0, 10),
    get(2, 'a', '1', 11, 20),
    put(0, 'b', '2', 21, 30),
    get(1, 'a', '1', 31, 40),
    get(2, 'b', '1', 41, 50),
    append(0, 'a', '2', 51, 60),
  ]
  const res = checkOperations(kvModel, history)
  assert.is(res.result, 'illegal')
  assert.ok(res.partition !== undefined && res.partition.length === 3)
  assert.ok(
    res.partition.every((op) => op.input.key === 'b'),
    'the partition holds only key b',
  )
  assert.is(res.partitionIndex, 1)
  // put(b, 2) is possible, but the look ahead knows the later read of '1' rules it out.
  assert.equal(
    res.longestPrefix?.map((op) => op.input),
    [{ op: 'put', key: 'b', value: '1' }],
  )
  assert.ok(res.info?.includes('state after it: "1"'), res.info)
  assert.ok(res.info?.includes('put("b", "2"): it leaves "2", which the look ahead rules out'), res.info)
})

test('a malformed history is a programmer error', () => {
  assert.throws(() => verdict([put(0, 'x', '1', 10, 5)]), /returnMs/)
  assert.throws(() => verdict([put(0, 'x', '1', Number.NaN, 5)]), /callMs/)
})

test('a search that outlives its budget answers unknown', () => {
  // 16 concurrent appends and an impossible read concurrent with them all (so no look ahead
  // applies): every order of the appends is a new state, so proving the read impossible takes
  // factorial time.
  const history: KvOperation[] = []
  for (let i = 0; i < 16; i++) history.push(append(i, 'x', String.fromCharCode(97 + i), 0, 100))
  history.push(get(16, 'x', 'nope', 50, 300))
  const start = performance.now()
  const res = checkOperations(kvModel, history, { timeoutMs: 50 })
  assert.is(res.result, 'unknown')
  assert.ok(performance.now() - start < 1000, 'stops soon after the budget')
  assert.is(checkOperations(kvModel, history, { maxCacheEntries: 1000 }).result, 'unknown')
})

test('the look ahead keeps a long run of concurrent appends, read only at the end, fast', () => {
  // Each append takes effect at a random instant of its interval; only the final read tells the
  // order. Without the look ahead every order of the run is a different state to try.
  const rng = xorshift32(42)
  const effects: { atMs: number; value: string }[] = []
  const history: KvOperation[] = []
  for (let i = 0; i < 40; i++) {
    const callMs = 2 * i
    history.push(append(i % 5, 'x', `${i};`, callMs, callMs + 9))
    effects.push({ atMs: callMs + rng.next() * 9, value: `${i};` })
  }
  effects.sort((a, b) => a.atMs - b.atMs)
  history.push(get(0, 'x', effects.map((e) => e.value).join(''), 100, 110))
  assert.is(checkOperations(kvModel, history, { timeoutMs: 1000 }).result, 'ok')
  const blind = { ...kvModel, lookahead: undefined }
  assert.is(checkOperations(blind, history, { timeoutMs: 100 }).result, 'unknown')
})

test('pending writes that nobody saw do not multiply the search', () => {
  // Each pending write left in could go before any of the later puts, doubling the states to
  // explore before the impossible read at the end is proven impossible.
  const history: KvOperation[] = []
  for (let i = 0; i < 20; i++) history.push(neverReturned(put(1 + i, 'x', `lost${i}`, i, i + 1)))
  for (let i = 0; i < 30; i++) {
    history.push(
      put(0, 'x', `v${i}`, 30 + 10 * i, 32 + 10 * i),
      get(0, 'x', `v${i}`, 34 + 10 * i, 36 + 10 * i),
    )
  }
  history.push(get(0, 'x', 'nope', 400, 410))
  assert.is(checkOperations(kvModel, history, { timeoutMs: 1000 }).result, 'illegal')
  // One that was seen stays in, and is placed where it was seen.
  history.push(neverReturned(put(30, 'x', 'nope', 395, 396)))
  assert.is(checkOperations(kvModel, history, { timeoutMs: 1000 }).result, 'ok')
})

/** A counter with increments and reads, unpartitioned: exercises the generic path and `hash`. */
type CounterInput = { op: 'inc' } | { op: 'read' }
const counterModel: Model<number, CounterInput, number> = {
  init: () => 0,
  step: (state, input, output) =>
    input.op === 'inc'
      ? { ok: true, state: state + 1 }
      : { ok: output === undefined || output === state, state },
  equal: (a, b) => a === b,
  hash: (state) => state,
}

test('a model without partitions, with a state hash', () => {
  const inc = (clientId: number, callMs: number, returnMs: number): Operation<CounterInput, number> => ({
    clientId,
    input: { op: 'inc' },
    output: 0,
    callMs,
    returnMs,
  })
  const read = (clientId: number, value: number, callMs: number, returnMs: number) => ({
    clientId,
    input: { op: 'read' } as const,
    output: value,
    callMs,
    returnMs,
  })
  const incs = [inc(0, 0, 10), inc(1, 0, 10), inc(2, 0, 10)]
  assert.is(checkOperations(counterModel, [...incs, read(3, 2, 5, 6), read(4, 3, 20, 30)]).result, 'ok')
  assert.is(checkOperations(counterModel, [...incs, read(3, 2, 5, 6), read(4, 1, 8, 9)]).result, 'illegal')
  const res = checkOperations(counterModel, [...incs, read(4, 4, 20, 30)])
  assert.is(res.result, 'illegal')
  assert.is(res.longestPrefix?.length, 3)
  assert.ok(res.info?.includes('{"op":"read"} -> 4'), res.info)
})

// ---- Randomized histories from a real linearizable execution ----

interface GenOptions {
  ops: number
  keys: number
  clients: number
  /** Probability that an operation never returns (then it takes effect half of the time). */
  pendingRate: number
  /** Out of 10 operations, how many are gets and how many puts; the rest are appends. */
  gets: number
  puts: number
}

/**
 * Runs a correct store: each operation takes effect at one random instant within its interval
 * (a never-returned one at a random later instant, or not at all), and gets return the value at
 * that instant. Clients issue one operation at a time; the next free client goes first, so about
 * `clients` operations overlap at any time.
 */
function generateHistory(seed: number, opts: GenOptions): KvOperation[] {
  const rng = xorshift32(seed)
  const freeAtMs = new Array<number>(opts.clients).fill(0)
  const history: KvOperation[] = []
  const effects: { atMs: number; index: number }[] = []
  for (let i = 0; i < opts.ops; i++) {
    let clientId = 0
    for (let c = 1; c < opts.clients; c++) if (freeAtMs[c] < freeAtMs[clientId]) clientId = c
    const callMs = freeAtMs[clientId] + rng.int(5)
    const durationMs = 1 + rng.int(20)
    const key = `k${rng.int(opts.keys)}`
    const kind = rng.int(10)
    const op =
      kind < opts.gets
        ? get(clientId, key, '', callMs, callMs + durationMs)
        : kind < opts.gets + opts.puts
          ? put(clientId, key, `p${i}`, callMs, callMs + durationMs)
          : append(clientId, key, `a${i};`, callMs, callMs + durationMs)
    if (rng.next() < opts.pendingRate) {
      history.push(neverReturned(op))
      // The client gives up after a timeout; the server may still apply the operation later.
      freeAtMs[clientId] = callMs + 30
      if (rng.next() < 0.5) effects.push({ atMs: callMs + rng.next() * 3 * durationMs, index: i })
    } else {
      history.push(op)
      freeAtMs[clientId] = callMs + durationMs + rng.int(3)
      effects.push({ atMs: callMs + rng.next() * durationMs, index: i })
    }
  }
  effects.sort((a, b) => a.atMs - b.atMs)
  const store = new Map<string, string>()
  for (const { index } of effects) {
    const op = history[index]
    const value = store.get(op.input.key) ?? ''
    if (op.input.op === 'get') {
      if (!op.pending) op.output = value
    } else {
      store.set(op.input.key, op.input.op === 'put' ? op.input.value : value + op.input.value)
    }
  }
  return history
}

const smallHistory: GenOptions = { ops: 60, keys: 3, clients: 5, pendingRate: 0.03, gets: 4, puts: 3 }

test('randomized: histories of a correct store are all linearizable', () => {
  for (let seed = 1; seed <= 300; seed++) {
    const res = checkOperations(kvModel, generateHistory(seed, smallHistory), { timeoutMs: 10_000 })
    assert.is(res.result, 'ok', `seed ${seed}: ${res.info}`)
  }
})

function completedGets(history: KvOperation[]): number[] {
  const gets: number[] = []
  history.forEach((op, i) => {
    if (op.input.op === 'get' && !op.pending) gets.push(i)
  })
  return gets
}

test('randomized: a read corrupted to a value never written is always caught', () => {
  let mutated = 0
  for (let seed = 1; seed <= 300; seed++) {
    const history = generateHistory(seed, smallHistory)
    const gets = completedGets(history)
    if (gets.length === 0) continue
    const victim = history[gets[xorshift32(seed * 7919).int(gets.length)]]
    victim.output = `${victim.output}never-written`
    mutated++
    const res = checkOperations(kvModel, history, { timeoutMs: 10_000 })
    assert.is(res.result, 'illegal', `seed ${seed}: ${res.info}`)
    assert.ok(res.partition?.includes(victim), `seed ${seed}: the illegal partition holds the corrupted read`)
  }
  assert.ok(mutated >= 290, `${mutated} histories mutated`)
})

test('randomized: a read corrupted to another value its key once held is caught in most cases', () => {
  // A stale value may still be legal when the read overlaps the writes in between, so this
  // asserts a rate, not every case.
  let mutated = 0
  let caught = 0
  for (let seed = 1; seed <= 300; seed++) {
    const history = generateHistory(seed, smallHistory)
    const rng = xorshift32(seed * 104729)
    const gets = completedGets(history)
    if (gets.length === 0) continue
    const index = gets[rng.int(gets.length)]
    const victim = history[index] as KvOperation & { output: string }
    const key = victim.input.key
    const others = new Set<string>([''])
    for (const op of history) {
      if (op.input.key === key && op.input.op === 'get' && !op.pending) others.add(op.output)
    }
    others.delete(victim.output)
    if (others.size === 0) continue
    const candidates = [...others]
    victim.output = candidates[rng.int(candidates.length)]
    mutated++
    const res = checkOperations(kvModel, history, { timeoutMs: 10_000 })
    assert.not.equal(res.result, 'unknown', `seed ${seed}`)
    if (res.result === 'illegal') caught++
  }
  assert.ok(mutated >= 250, `${mutated} histories mutated`)
  assert.ok(caught / mutated >= 0.8, `caught ${caught} of ${mutated}`)
})

/**
 * The definition itself, by brute force: some subset of the pending operations plus every
 * completed one, in some order that respects real time, replays on a sequential store.
 */
function bruteForceLinearizable(history: KvOperation[]): boolean {
  const n = history.length
  const returnMs = (op: KvOperation): number => (op.pending ? Infinity : op.returnMs)
  const used = new Array<boolean>(n).fill(false)
  const search = (store: Map<string, string>): boolean => {
    const remaining = history.filter((_, i) => !used[i])
    if (remaining.every((op) => op.pending)) return true
    for (let i = 0; i < n; i++) {
      const op = history[i]
      if (used[i]) continue
      // Nothing still unplaced may have returned before this one was called.
      if (remaining.some((other) => other !== op && !other.pending && returnMs(other) < op.callMs)) continue
      const value = store.get(op.input.key) ?? ''
      if (op.input.op === 'get' && !op.pending && op.output !== value) continue
      const after = new Map(store)
      if (op.input.op === 'put') after.set(op.input.key, op.input.value)
      if (op.input.op === 'append') after.set(op.input.key, value + op.input.value)
      used[i] = true
      const ok = search(after)
      used[i] = false
      if (ok) return true
    }
    return false
  }
  return search(new Map())
}

/** A small history with random outputs, legal or not, and overlapping intervals. */
function randomSmallHistory(seed: number): KvOperation[] {
  const rng = xorshift32(seed)
  const values = ['', 'a', 'b', 'ab', 'ba']
  const history: KvOperation[] = []
  const size = 2 + rng.int(6)
  for (let i = 0; i < size; i++) {
    const callMs = rng.int(20)
    const returnMs = callMs + rng.int(8)
    const key = rng.int(4) === 0 ? 'y' : 'x'
    const kind = rng.int(3)
    const op =
      kind === 0
        ? get(i, key, values[rng.int(values.length)], callMs, returnMs)
        : kind === 1
          ? put(i, key, values[1 + rng.int(2)], callMs, returnMs)
          : append(i, key, values[1 + rng.int(2)], callMs, returnMs)
    history.push(rng.int(6) === 0 ? neverReturned(op) : op)
  }
  return history
}

test('randomized: the checker agrees with a brute-force search on small histories', () => {
  let legal = 0
  for (let seed = 1; seed <= 3000; seed++) {
    const history = randomSmallHistory(seed)
    const expected = bruteForceLinearizable(history)
    const res = checkOperations(kvModel, history)
    assert.is(res.result, expected ? 'ok' : 'illegal', `seed ${seed}: ${JSON.stringify(history)}`)
    if (expected) legal++
  }
  // Both verdicts must be well represented for the comparison to mean anything.
  assert.ok(legal > 300 && legal < 2700, `${legal} of 3000 legal`)
})

test('performance: 3000 operations over 10 keys and 5 clients check in under 2 s', () => {
  const mixed: GenOptions = { ops: 3000, keys: 10, clients: 5, pendingRate: 0.01, gets: 4, puts: 3 }
  const appendHeavy: GenOptions = { ops: 3000, keys: 10, clients: 5, pendingRate: 0.05, gets: 2, puts: 1 }
  for (const [name, opts] of [
    ['mixed', mixed],
    ['append-heavy', appendHeavy],
  ] as const) {
    for (const seed of [1, 2, 3]) {
      const history = generateHistory(seed, opts)
      const start = performance.now()
      const res = checkOperations(kvModel, history, { timeoutMs: 10_000 })
      const elapsedMs = performance.now() - start
      assert.is(res.result, 'ok', `${name} seed ${seed}: ${res.info}`)
      assert.ok(elapsedMs < 2000, `${name} seed ${seed}: took ${elapsedMs.toFixed(0)} ms`)
    }
  }
})

test.run()
