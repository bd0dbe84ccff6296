/**
 * A linearizability checker for the histories our Raft simulation tests record.
 *
 * It is a port of Porcupine (anishathalye/porcupine): the Wing & Gong search with Lowe's
 * memoisation. The history becomes a doubly linked list of call and return events sorted by
 * time; the search repeatedly picks an operation whose call comes before the first return still
 * in the list, applies it to the model, and lifts its two events out of the list; when no
 * operation fits, it puts the last one back and tries the next. A cache of (set of linearized
 * operations, model state) pairs already explored prunes the search, and P-compositionality lets
 * a model split the history (by key, for a key-value store) into partitions checked one by one.
 * Beyond Porcupine: operations that never returned are tried after the others, and a model may
 * add a look ahead that prunes states a later observation already rules out; `kvModel` uses both
 * to stay fast on runs of concurrent appends and on clients that timed out.
 *
 *   const history: KvOperation[] = [
 *     { clientId: 0, input: { op: 'put', key: 'x', value: '1' }, output: '', callMs: 0, returnMs: 10 },
 *     { clientId: 1, input: { op: 'get', key: 'x' }, output: '1', callMs: 5, returnMs: 15 },
 *   ]
 *   const { result, info } = checkOperations(kvModel, history, { timeoutMs: 5_000 })
 *   assert.is(result, 'ok', info)
 */

/** What a model's `step` answers: whether the operation could happen in that state, and the state after it. */
export interface StepResult<State> {
  ok: boolean
  state: State
}

/**
 * A sequential specification of the system under test.
 *
 * The checker never mutates states: `step` must return a new state (or the same one unchanged).
 */
export interface Model<State, Input, Output> {
  /** The state before any operation. */
  init(): State
  /**
   * Applies one operation. `output` is `undefined` exactly when the operation is pending (it
   * never returned), and then `step` must accept it, since any output is possible.
   */
  step(state: State, input: Input, output: Output | undefined): StepResult<State>
  /** Whether two states are the same; the memo uses it to recognise a state already explored. */
  equal(a: State, b: State): boolean
  /**
   * An optional 32-bit hash of a state, consistent with `equal`. Give one when many different
   * states can follow the same set of operations, so that the memo's buckets stay short.
   */
  hash?(state: State): number
  /**
   * Optionally splits a history into independent sub-histories (P-compositionality): the whole
   * history is linearizable exactly when each part is. Each part is checked on its own, which
   * turns one exponential search into several small ones.
   */
  partition?(history: readonly Operation<Input, Output>[]): Operation<Input, Output>[][]
  /**
   * Optional pruning with knowledge of the whole partition, for models whose state can stray far
   * from anything observed: every order of a run of concurrent appends is a different state, and
   * only a later read tells them apart, so without a look ahead the search tries them all. Called
   * once per partition, it returns a test run after each successful step of the operation at
   * `index` (in the partition) on the state that step produced; false means no linearization can
   * continue from there, and the search backtracks at once. It must be sound: answering false
   * where a linearization exists makes the checker call a legal history illegal.
   */
  lookahead?(partition: readonly Operation<Input, Output>[]): (index: number, state: State) => boolean
  /** Optionally renders an operation for messages (`output` is `undefined` for a pending one). */
  describeOperation?(input: Input, output: Output | undefined): string
  /** Optionally renders a state for messages. */
  describeState?(state: State): string
}

/** An operation that returned: it took effect at one instant between `callMs` and `returnMs`. */
export interface CompletedOperation<Input, Output> {
  /** The client that issued it; only messages use it, since times alone order the operations. */
  clientId: number
  input: Input
  output: Output
  /** When the client sent the request, in any time unit shared by the whole history. */
  callMs: number
  /** When the client received the response; operations that merely touch count as concurrent. */
  returnMs: number
  pending?: false
}

/**
 * An operation that never returned: its client timed out or its server crashed. It may or may not
 * have taken effect, at any instant after `callMs`, so the checker treats its return time as
 * +Infinity and its output as unknown (and passes `undefined` to the model's `step`). An
 * operation known to have failed without effect (a definite rejection) belongs in no history.
 */
export interface PendingOperation<Input> {
  clientId: number
  input: Input
  callMs: number
  pending: true
  /** Ignored: a pending operation has no output. */
  output?: undefined
  /** Ignored: treated as +Infinity. */
  returnMs?: number
}

/** One entry of a history: a completed or a pending (never returned) operation. */
export type Operation<Input, Output> = CompletedOperation<Input, Output> | PendingOperation<Input>

/** Options of `checkOperations`. */
export interface CheckOptions {
  /** The time budget for the whole check; past it the answer is 'unknown'. Default: no limit. */
  timeoutMs?: number
  /**
   * The bound on the memo, in (linearized set, state) entries per partition; when a partition
   * needs more, the answer is 'unknown'. It keeps a pathological history from exhausting memory.
   * Default: 1,000,000.
   */
  maxCacheEntries?: number
}

/** The verdict of `checkOperations`. */
export interface CheckResult<Input, Output> {
  /**
   * 'ok': linearizable; 'illegal': not linearizable; 'unknown': the time budget or the memo
   * bound ran out first.
   */
  result: 'ok' | 'illegal' | 'unknown'
  /** For 'illegal' and 'unknown': the index of the partition at fault among the model's partitions. */
  partitionIndex?: number
  /** For 'illegal' and 'unknown': the operations of that partition. */
  partition?: Operation<Input, Output>[]
  /** For 'illegal': the longest sequence of that partition's operations that linearizes, in order. */
  longestPrefix?: Operation<Input, Output>[]
  /** For 'illegal' and 'unknown': a readable account, with the operations that could not come next. */
  info?: string
}

/** The default bound on memo entries per partition. */
const defaultMaxCacheEntries = 1_000_000

/**
 * Checks whether a history is linearizable with respect to a model.
 *
 * Partitions (when the model has `partition`) are checked in order; the first illegal one ends
 * the check, and so does the end of the budget. Throws a RangeError on a malformed history (a time that is not a number, a return
 * before its call): that is a bug in the test, not a property of the system.
 */
export function checkOperations<State, Input, Output>(
  model: Model<State, Input, Output>,
  history: readonly Operation<Input, Output>[],
  options: CheckOptions = {},
): CheckResult<Input, Output> {
  history.forEach(validateOperation)
  // performance.now() bounds only how long we search; it never influences the verdict.
  const deadlineMs = options.timeoutMs === undefined ? Infinity : performance.now() + options.timeoutMs
  const maxCacheEntries = options.maxCacheEntries ?? defaultMaxCacheEntries
  const partitions = model.partition ? model.partition(history) : [history.slice()]
  for (let index = 0; index < partitions.length; index++) {
    const ops = partitions[index]
    const outcome = searchPartition(model, ops, deadlineMs, maxCacheEntries)
    if (outcome.result === 'ok') continue
    if (outcome.result === 'unknown') {
      const why =
        outcome.reason === 'time'
          ? `the time budget of ${options.timeoutMs} ms ran out`
          : `the memo reached its bound of ${maxCacheEntries} entries`
      return {
        result: 'unknown',
        partitionIndex: index,
        partition: ops,
        info: `partition ${index} (${ops.length} operations): ${why} after exploring ${outcome.explored} states`,
      }
    }
    const longestPrefix = outcome.longest.map((i) => ops[i])
    return {
      result: 'illegal',
      partitionIndex: index,
      partition: ops,
      longestPrefix,
      info: explainIllegal(model, ops, index, outcome.longest),
    }
  }
  return { result: 'ok' }
}

function validateOperation<Input, Output>(op: Operation<Input, Output>, index: number): void {
  if (!Number.isFinite(op.callMs)) {
    throw new RangeError(`history[${index}].callMs must be a finite number, got ${op.callMs}`)
  }
  if (op.pending) return
  if (!Number.isFinite(op.returnMs) || op.returnMs < op.callMs) {
    throw new RangeError(
      `history[${index}].returnMs must be a finite number >= callMs (${op.callMs}), got ${op.returnMs}`,
    )
  }
}

interface SearchOutcome {
  result: 'ok' | 'illegal' | 'unknown'
  reason?: 'time' | 'memo'
  /** Indices into the partition of the longest linearization found, in order. */
  longest: number[]
  explored: number
}

interface CacheEntry<State> {
  bits: Uint32Array
  state: State
}

interface Event {
  timeMs: number
  isCall: boolean
  op: number
}

/**
 * The Wing & Gong / Lowe search over one partition.
 *
 * Nodes live in typed arrays rather than objects so the hot loop allocates only what the model
 * does. The list is: a head sentinel, the call and return events of completed operations sorted
 * by time, a separator, the calls of pending operations sorted by time, and a tail sentinel.
 * Pending calls sit apart because their return never comes: they never end the window of
 * candidates, and trying them after the completed candidates keeps the search linear on correct
 * histories (a pending operation whose effect nobody saw is simply linearized last).
 */
function searchPartition<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly Operation<Input, Output>[],
  deadlineMs: number,
  maxCacheEntries: number,
): SearchOutcome {
  const n = ops.length
  const events: Event[] = []
  const pendingOps: number[] = []
  for (let i = 0; i < n; i++) {
    const op = ops[i]
    if (op.pending) {
      pendingOps.push(i)
    } else {
      events.push({ timeMs: op.callMs, isCall: true, op: i }, { timeMs: op.returnMs, isCall: false, op: i })
    }
  }
  // At equal times calls come first, so operations that merely touch count as concurrent: the
  // permissive reading, as in Porcupine, because clocks in a history are never that precise.
  events.sort((a, b) => a.timeMs - b.timeMs || Number(b.isCall) - Number(a.isCall))
  pendingOps.sort((a, b) => ops[a].callMs - ops[b].callMs)

  const head = 0
  const separator = events.length + 1
  const tail = separator + pendingOps.length + 1
  const size = tail + 1
  const next = new Int32Array(size)
  const prev = new Int32Array(size)
  const nodeOp = new Int32Array(size).fill(-1)
  const nodeIsCall = new Uint8Array(size)
  const nodeTimeMs = new Float64Array(size)
  const returnNode = new Int32Array(n).fill(-1)
  for (let k = 0; k < size; k++) {
    next[k] = k + 1
    prev[k] = k - 1
  }
  next[tail] = tail
  prev[head] = head
  events.forEach((event, i) => {
    const k = i + 1
    nodeOp[k] = event.op
    nodeIsCall[k] = event.isCall ? 1 : 0
    nodeTimeMs[k] = event.timeMs
    if (!event.isCall) returnNode[event.op] = k
  })
  pendingOps.forEach((op, i) => {
    const k = separator + 1 + i
    nodeOp[k] = op
    nodeIsCall[k] = 1
    nodeTimeMs[k] = ops[op].callMs
  })

  // Dancing links: a lifted node keeps its own pointers, so undoing lifts in reverse order
  // restores the list exactly.
  const lift = (call: number): void => {
    next[prev[call]] = next[call]
    prev[next[call]] = prev[call]
    const ret = returnNode[nodeOp[call]]
    if (ret >= 0) {
      next[prev[ret]] = next[ret]
      prev[next[ret]] = prev[ret]
    }
  }
  const unlift = (call: number): void => {
    const ret = returnNode[nodeOp[call]]
    if (ret >= 0) {
      next[prev[ret]] = ret
      prev[next[ret]] = ret
    }
    next[prev[call]] = call
    prev[next[call]] = call
  }

  // The linearized set is a bitset; its Zobrist hash (xor of a fixed random word per operation)
  // is updated in O(1) when one bit flips, and keys the memo.
  const bits = new Uint32Array((n + 31) >>> 5)
  const zobrist = new Int32Array(n)
  for (let i = 0; i < n; i++) zobrist[i] = mix32(i + 1)
  let setHash = 0
  const flip = (op: number): void => {
    bits[op >>> 5] ^= 1 << (op & 31)
    setHash ^= zobrist[op]
  }
  const cache = new Map<number, CacheEntry<State>[]>()
  let cacheSize = 0

  const viable = model.lookahead?.(ops)
  const stackNode: number[] = []
  const stackState: State[] = []
  let longest: number[] = []
  let state = model.init()
  let linearized = 0
  let node = next[head]
  // Pending calls are candidates only up to the first return still in the list.
  let boundMs = Infinity
  let iterations = 0

  while (linearized < n) {
    if ((++iterations & 1023) === 0 && performance.now() > deadlineMs) {
      return { result: 'unknown', reason: 'time', longest, explored: cacheSize }
    }
    if (node < separator && !nodeIsCall[node]) {
      boundMs = nodeTimeMs[node]
      node = next[separator]
    } else if (node === separator) {
      boundMs = Infinity
      node = next[separator]
    }
    const isCandidate = node < separator || (node !== tail && nodeTimeMs[node] <= boundMs)
    if (isCandidate) {
      const op = nodeOp[node]
      const operation = ops[op]
      const stepped = model.step(state, operation.input, operation.pending ? undefined : operation.output)
      if (stepped.ok && (viable === undefined || viable(op, stepped.state))) {
        flip(op)
        const key = model.hash ? setHash ^ Math.imul(model.hash(stepped.state), 0x9e3779b1) : setHash
        let bucket = cache.get(key)
        let seen = false
        if (bucket === undefined) {
          bucket = []
          cache.set(key, bucket)
        } else {
          for (const entry of bucket) {
            if (sameBits(entry.bits, bits) && model.equal(entry.state, stepped.state)) {
              seen = true
              break
            }
          }
        }
        if (!seen) {
          if (cacheSize >= maxCacheEntries) {
            return { result: 'unknown', reason: 'memo', longest, explored: cacheSize }
          }
          bucket.push({ bits: bits.slice(), state: stepped.state })
          cacheSize++
          stackNode.push(node)
          stackState.push(state)
          state = stepped.state
          linearized++
          lift(node)
          node = next[head]
          continue
        }
        flip(op)
      }
      node = next[node]
      continue
    }
    // No candidate extends this prefix: undo the last choice and try the one after it.
    if (stackNode.length === 0) return { result: 'illegal', longest, explored: cacheSize }
    if (stackNode.length > longest.length) longest = stackNode.map((k) => nodeOp[k])
    const call = stackNode.pop()!
    state = stackState.pop()!
    flip(nodeOp[call])
    linearized--
    unlift(call)
    // When `call` is pending, `boundMs` is still right for this level: the level just abandoned
    // walked past the first return of its list, which is this level's list minus a pending call.
    node = next[call]
  }
  return { result: 'ok', longest: [], explored: cacheSize }
}

function sameBits(a: Uint32Array, b: Uint32Array): boolean {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false
  return true
}

/** splitmix32's finaliser: a well-spread 32-bit word for each small integer. */
function mix32(x: number): number {
  let z = Math.imul(x, 0x9e3779b9)
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b)
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35)
  return z ^ (z >>> 16)
}

/** How many operations of the longest linearization an explanation lists before eliding. */
const explainTailLength = 20

function explainIllegal<State, Input, Output>(
  model: Model<State, Input, Output>,
  ops: readonly Operation<Input, Output>[],
  partitionIndex: number,
  longest: readonly number[],
): string {
  const describe = (op: Operation<Input, Output>): string => {
    const output = op.pending ? undefined : op.output
    const what = model.describeOperation
      ? model.describeOperation(op.input, output)
      : `${JSON.stringify(op.input)} -> ${op.pending ? '?' : JSON.stringify(output)}`
    const span = op.pending ? `${op.callMs}, never returned` : `${op.callMs}, ${op.returnMs}`
    return `client ${op.clientId} [${span}] ${what}`
  }
  const showState = (state: State): string =>
    model.describeState ? model.describeState(state) : JSON.stringify(state)
  let state = model.init()
  for (const i of longest) {
    const op = ops[i]
    state = model.step(state, op.input, op.pending ? undefined : op.output).state
  }
  // The operations that could have come next: those not linearized whose call precedes the
  // first return among the rest. Each is refused by the model, by the look ahead, or leads only
  // to dead ends the search already explored.
  const viable = model.lookahead?.(ops)
  const done = new Set(longest)
  let boundMs = Infinity
  ops.forEach((op, i) => {
    if (!done.has(i) && !op.pending && op.returnMs < boundMs) boundMs = op.returnMs
  })
  const stuck: string[] = []
  ops.forEach((op, i) => {
    if (done.has(i) || op.callMs > boundMs) return
    const stepped = model.step(state, op.input, op.pending ? undefined : op.output)
    const why = !stepped.ok
      ? 'the model refuses it in that state'
      : viable !== undefined && !viable(i, stepped.state)
        ? `it leaves ${showState(stepped.state)}, which the look ahead rules out`
        : 'every continuation after it fails'
    stuck.push(`  ${describe(op)}: ${why}`)
  })
  const shown = longest.slice(-explainTailLength).map((i) => `  ${describe(ops[i])}`)
  if (longest.length > explainTailLength) shown.unshift(`  ... ${longest.length - explainTailLength} earlier`)
  return [
    `partition ${partitionIndex} (${ops.length} operations) is not linearizable;` +
      ` the longest linearization has ${longest.length} of them:`,
    ...(shown.length > 0 ? shown : ['  (none)']),
    `state after it: ${showState(state)}`,
    'none of these can come next:',
    ...stuck,
  ].join('\n')
}

/** An input of the key-value model: read a key, overwrite it, or append to it. */
export type KvInput =
  | { op: 'get'; key: string }
  | { op: 'put'; key: string; value: string }
  | { op: 'append'; key: string; value: string }

/**
 * An output of the key-value model: for get, the value read ('' when the key is absent); for put
 * and append it is ignored (pass '').
 */
export type KvOutput = string

/** One operation of a key-value history. */
export type KvOperation = Operation<KvInput, KvOutput>

/**
 * The state of the key-value model within one partition: the value of that partition's key
 * ('' when absent). It is a single string, not a map, because `partition` splits by key.
 */
export type KvState = string

/**
 * The model of a key-value store (map of string keys to string values, absent reads as ''),
 * partitioned by key. `partition` drops the pending operations that cannot matter, since each
 * one left in doubles the search wherever it fails: pending gets (they change nothing and nobody
 * saw their result) and pending writes that no get saw (see `withoutUnseenPendingWrites`). Its
 * `lookahead` prunes orders of appends that a later read already rules out (see `kvLookahead`).
 */
export const kvModel: Model<KvState, KvInput, KvOutput> = {
  init: () => '',
  step(state, input, output) {
    switch (input.op) {
      case 'get':
        return { ok: output === undefined || output === state, state }
      case 'put':
        return { ok: true, state: input.value }
      case 'append':
        return { ok: true, state: state + input.value }
    }
  },
  equal: (a, b) => a === b,
  partition(history) {
    const byKey = new Map<string, KvOperation[]>()
    for (const op of history) {
      if (op.pending && op.input.op === 'get') continue
      let ops = byKey.get(op.input.key)
      if (ops === undefined) {
        ops = []
        byKey.set(op.input.key, ops)
      }
      ops.push(op)
    }
    return [...byKey.values()].map(withoutUnseenPendingWrites)
  },
  lookahead: kvLookahead,
  describeOperation(input, output) {
    const result = output === undefined ? '?' : JSON.stringify(output)
    switch (input.op) {
      case 'get':
        return `get(${JSON.stringify(input.key)}) -> ${result}`
      case 'put':
        return `put(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)})`
      case 'append':
        return `append(${JSON.stringify(input.key)}, ${JSON.stringify(input.value)})`
    }
  },
  describeState: (state) => JSON.stringify(state),
}

/**
 * One key's operations without the pending writes that no get saw: a pending put whose value
 * starts no value read, a pending append whose value occurs in no value read. Such a write can
 * always be linearized last instead (or never), so dropping it changes no verdict: had it taken
 * effect before some get, and before the next put, that get would have read a value starting with
 * the put's value or containing the append's; so no get lies between it and the next put (or the
 * end), and moving it to the end changes no value read.
 */
function withoutUnseenPendingWrites(ops: KvOperation[]): KvOperation[] {
  const seen: string[] = []
  for (const op of ops) if (op.input.op === 'get' && !op.pending) seen.push(op.output)
  return ops.filter((op) => {
    if (!op.pending || op.input.op === 'get') return true
    const { op: kind, value } = op.input
    return seen.some((read) => (kind === 'put' ? read.startsWith(value) : read.includes(value)))
  })
}

/**
 * The key-value model's look ahead, for one key. Take a write W (put or append) and the get G
 * that returns first among those called strictly after W returned: every linearization puts G
 * after W. Between them come appends and perhaps puts; if a put comes last among those, G read
 * that put's value followed by appends. So unless some put other than W could fall between them
 * (it did not return before W was called nor was called after G returned) and its value starts
 * what G read, the value W leaves must be a prefix of the value G read. A pending put counts: it
 * may take effect at any time after its call. A write with no such get gets no test.
 */
function kvLookahead(ops: readonly KvOperation[]): (index: number, state: KvState) => boolean {
  const gets: CompletedOperation<KvInput, KvOutput>[] = []
  const puts: KvOperation[] = []
  for (const op of ops) {
    if (op.input.op === 'get' && !op.pending) gets.push(op)
    if (op.input.op === 'put') puts.push(op)
  }
  gets.sort((a, b) => a.callMs - b.callMs)
  // firstReturning[k]: the get returning first among gets[k..].
  const firstReturning = gets.slice()
  for (let k = gets.length - 2; k >= 0; k--) {
    if (firstReturning[k + 1].returnMs < gets[k].returnMs) firstReturning[k] = firstReturning[k + 1]
  }
  const mustPrefix: (string | undefined)[] = ops.map((write) => {
    // A pending write never returned, so no get is certainly after it.
    if (write.input.op === 'get' || write.pending) return undefined
    const k = firstIndexAfter(gets, write.returnMs)
    if (k === gets.length) return undefined
    const get = firstReturning[k]
    const intervening = puts.some(
      (put) =>
        put !== write &&
        (put.pending || put.returnMs >= write.callMs) &&
        put.callMs <= get.returnMs &&
        put.input.op === 'put' &&
        get.output.startsWith(put.input.value),
    )
    return intervening ? undefined : get.output
  })
  return (index, state) => {
    const prefixOf = mustPrefix[index]
    return prefixOf === undefined || prefixOf.startsWith(state)
  }
}

/** The index of the first operation in `sorted` (by call time) called strictly after `timeMs`. */
function firstIndexAfter(sorted: readonly { callMs: number }[], timeMs: number): number {
  let lo = 0
  let hi = sorted.length
  while (lo < hi) {
    const mid = (lo + hi) >>> 1
    if (sorted[mid].callMs > timeMs) hi = mid
    else lo = mid + 1
  }
  return lo
}
