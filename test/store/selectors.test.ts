import '../../src/util/polyfill.js'
import fc from 'fast-check'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import {
  escapeFieldSelectorValue,
  FIELD_SELECTOR_FIELDS,
  FieldSelector,
  type LabelRequirement,
  LabelSelector,
  type LabelSelectorObject,
  type Labels,
  labelSelectorFromMap,
  labelSelectorFromObject,
  objectFields,
  parseFieldSelector,
  parseLabelSelector,
  SelectorError,
  validateLabelKey,
  validateLabelValue,
} from '../../src/store/selectors.js'

/** Runs `fn`, expects a SelectorError whose message contains every one of `parts`. */
function throwsSelectorError(fn: () => unknown, ...parts: string[]): SelectorError {
  try {
    fn()
  } catch (err) {
    assert.instance(err, SelectorError)
    const e = err as SelectorError
    assert.is(e.name, 'SelectorError')
    for (const part of parts) assert.ok(e.message.includes(part), `message "${e.message}" lacks "${part}"`)
    return e
  }
  assert.unreachable('expected a SelectorError')
  throw new Error('unreachable')
}

/** Which of `sets` the selector matches, as a string of 0s and 1s. */
function matchPattern(sel: LabelSelector, sets: readonly Labels[]): string {
  return sets.map((s) => (sel.matches(s) ? '1' : '0')).join('')
}

// --- label selectors: operators ---

test('= and == select objects whose label has the value', () => {
  for (const text of ['app=web', 'app==web']) {
    const sel = parseLabelSelector(text)
    assert.ok(sel.matches({ app: 'web' }), text)
    assert.ok(sel.matches({ app: 'web', tier: 'front' }), text)
    assert.not.ok(sel.matches({ app: 'db' }), text)
    assert.not.ok(sel.matches({}), text)
    assert.not.ok(sel.matches(undefined), text)
  }
})

test('!= selects objects whose label is absent or different', () => {
  const sel = parseLabelSelector('app!=web')
  assert.not.ok(sel.matches({ app: 'web' }))
  assert.ok(sel.matches({ app: 'db' }))
  assert.ok(sel.matches({}))
  assert.ok(sel.matches(undefined))
})

test('in selects objects whose label is one of the values; notin the others and the unlabelled', () => {
  const inSel = parseLabelSelector('env in (prod,staging)')
  const notIn = parseLabelSelector('env notin (prod,staging)')
  const sets: Labels[] = [{ env: 'prod' }, { env: 'staging' }, { env: 'dev' }, {}, undefined]
  assert.is(matchPattern(inSel, sets), '11000')
  assert.is(matchPattern(notIn, sets), '00111')
})

test('a bare key requires the label; !key requires its absence', () => {
  const exists = parseLabelSelector('gpu')
  const absent = parseLabelSelector('!gpu')
  const sets: Labels[] = [{ gpu: '' }, { gpu: 'a100' }, { cpu: 'x' }, undefined]
  assert.is(matchPattern(exists, sets), '1100')
  assert.is(matchPattern(absent, sets), '0011')
  assert.equal(exists.requirements, [{ key: 'gpu', operator: 'exists', values: [] }])
  assert.equal(absent.requirements, [{ key: 'gpu', operator: '!', values: [] }])
})

test('> and < compare integer label values; non-integers never match', () => {
  const gt = parseLabelSelector('cores>4')
  const lt = parseLabelSelector('cores<4')
  const sets: Labels[] = [
    { cores: '8' },
    { cores: '4' },
    { cores: '2' },
    { cores: 'many' },
    {},
    { cores: '99999999999999999999' },
  ]
  assert.is(matchPattern(gt, sets), '100000')
  assert.is(matchPattern(lt, sets), '001000')
  assert.ok(parseLabelSelector('n>9007199254740992').matches({ n: '9007199254740993' }), 'int64, not float')
  throwsSelectorError(() => parseLabelSelector('cores>four'), 'must be an integer', '"four"')
})

test('requirements are ANDed', () => {
  const sel = parseLabelSelector('app=web,env in (prod),!canary,tier')
  assert.ok(sel.matches({ app: 'web', env: 'prod', tier: 'front' }))
  assert.not.ok(sel.matches({ app: 'web', env: 'prod', tier: 'front', canary: 'true' }))
  assert.not.ok(sel.matches({ app: 'web', env: 'prod' }))
  assert.not.ok(sel.matches({ app: 'db', env: 'prod', tier: 'front' }))
})

test('labels are looked up as own properties only', () => {
  assert.not.ok(parseLabelSelector('constructor').matches({}))
  assert.ok(parseLabelSelector('!toString').matches({}))
  assert.ok(parseLabelSelector('constructor=x').matches({ constructor: 'x' }))
})

test('empty values: a=, a!=, a in (), a in (,x)', () => {
  assert.ok(parseLabelSelector('a=').matches({ a: '' }))
  assert.not.ok(parseLabelSelector('a=').matches({ a: 'x' }))
  assert.not.ok(parseLabelSelector('a=').matches({}))
  assert.ok(parseLabelSelector('a!=').matches({ a: 'x' }))
  assert.not.ok(parseLabelSelector('a!=').matches({ a: '' }))
  assert.equal(parseLabelSelector('a=,b=c').requirements[0]!.values, [''])
  assert.equal(parseLabelSelector('a in ()').requirements[0]!.values, [''])
  assert.equal(parseLabelSelector('a in (,x)').requirements[0]!.values, ['', 'x'])
  assert.equal(parseLabelSelector('a in (x,)').requirements[0]!.values, ['', 'x'])
  assert.equal(parseLabelSelector('a in (x,,y)').requirements[0]!.values, ['', 'x', 'y'])
  assert.equal(parseLabelSelector('a in (,)').requirements[0]!.values, [''])
  assert.equal(parseLabelSelector('a in (,,x)').requirements[0]!.values, ['', 'x'])
  assert.equal(parseLabelSelector('a in (y,x,y)').requirements[0]!.values, ['x', 'y'])
  // Kubernetes' parser rejects two commas before ')': so does this one.
  throwsSelectorError(() => parseLabelSelector('a in (,,)'), "found ')', expected: ',', or identifier")
  throwsSelectorError(() => parseLabelSelector('a in (x,,)'), "found ')', expected: ',', or identifier")
})

test('in and notin are plain words where a key or value is expected', () => {
  const sel = parseLabelSelector('in in (in,notin),notin notin (in)')
  assert.ok(sel.matches({ in: 'notin', notin: 'x' }))
  assert.not.ok(sel.matches({ in: 'notin', notin: 'in' }))
  assert.ok(parseLabelSelector('a=in').matches({ a: 'in' }))
})

test('prefixed keys and the full value charset are accepted', () => {
  const sel = parseLabelSelector('app.kubernetes.io/name=my_App-1.2,example.com/Team')
  assert.ok(sel.matches({ 'app.kubernetes.io/name': 'my_App-1.2', 'example.com/Team': '' }))
  assert.ok(parseLabelSelector(`a=${'v'.repeat(63)}`).matches({ a: 'v'.repeat(63) }))
  assert.ok(parseLabelSelector(`${'k'.repeat(63)}`).matches({ ['k'.repeat(63)]: '' }))
})

// --- label selectors: whitespace and the empty selector ---

test('whitespace around every token is ignored', () => {
  const spaced = parseLabelSelector(' \t a \n= b ,\r\n c  in  (  x ,  y  ) , ! d , e  notin(z),f!=g , h ')
  const tight = parseLabelSelector('a=b,c in (x,y),!d,e notin (z),f!=g,h')
  assert.is(spaced.toString(), tight.toString())
  assert.ok(spaced.matches({ a: 'b', c: 'y', h: '1' }))
  assert.ok(parseLabelSelector('a in(x)').matches({ a: 'x' }))
})

test('the empty selector, blank or not, matches everything', () => {
  for (const text of ['', '   ', '\t\n']) {
    const sel = parseLabelSelector(text)
    assert.ok(sel.isEmpty(), JSON.stringify(text))
    assert.not.ok(sel.matchesNothing())
    assert.ok(sel.matches(undefined))
    assert.ok(sel.matches({ any: 'thing' }))
    assert.is(sel.toString(), '')
  }
  assert.not.ok(parseLabelSelector('a').isEmpty())
})

test('a NUL character ends the selector, as in Kubernetes', () => {
  assert.is(parseLabelSelector('a=b \0 c=d').toString(), 'a=b')
})

// --- label selectors: errors ---

test('a bad key is rejected, naming the key', () => {
  throwsSelectorError(
    () => parseLabelSelector('-app=web'),
    'unable to parse requirement',
    'invalid label key "-app"',
  )
  throwsSelectorError(() => parseLabelSelector('a/b/c=x'), 'invalid label key "a/b/c"', 'qualified name')
  throwsSelectorError(
    () => parseLabelSelector('Example.com/app'),
    'invalid label key "Example.com/app"',
    'prefix part',
  )
  throwsSelectorError(() => parseLabelSelector('/app'), 'prefix part must be non-empty')
  throwsSelectorError(() => parseLabelSelector('example.com/'), 'name part must be non-empty')
  throwsSelectorError(
    () => parseLabelSelector(`${'k'.repeat(64)}=v`),
    'name part must be no more than 63 characters',
  )
  throwsSelectorError(() => parseLabelSelector('ok=1,b@d=2'), 'invalid label key "b@d"')
})

test('a bad value is rejected, naming the value and its key', () => {
  const long = 'v'.repeat(64)
  throwsSelectorError(
    () => parseLabelSelector(`app=${long}`),
    `invalid label value "${long}" for key "app"`,
    'no more than 63',
  )
  throwsSelectorError(
    () => parseLabelSelector('app in (ok,-bad)'),
    'invalid label value "-bad" for key "app"',
  )
  throwsSelectorError(() => parseLabelSelector('app=we$b'), 'invalid label value "we$b"')
})

test('an unterminated value set is rejected', () => {
  throwsSelectorError(
    () => parseLabelSelector('a in ('),
    "found end of string, expected: ',', ')' or identifier",
  )
  throwsSelectorError(() => parseLabelSelector('a in (x'), "found end of string, expected: ',' or ')'")
  throwsSelectorError(() => parseLabelSelector('a in (x,y'), "found end of string, expected: ',' or ')'")
  throwsSelectorError(() => parseLabelSelector('a in (x y)'), "found 'y', expected: ',' or ')'")
  throwsSelectorError(() => parseLabelSelector('a in x'), "found 'x', expected: '('")
  throwsSelectorError(() => parseLabelSelector('a in'), "found end of string, expected: '('")
  throwsSelectorError(() => parseLabelSelector('a in (=)'), "found '=', expected: ',', ')' or identifier")
})

test('an unknown operator is rejected, listing the known ones', () => {
  for (const text of ['a ~ b', 'a b', 'a (x)', 'a ) b']) {
    throwsSelectorError(
      () => parseLabelSelector(text),
      'unable to parse requirement',
      'expected: in, notin, =, ==, !=, >, <',
    )
  }
  throwsSelectorError(() => parseLabelSelector('a<=1'), "found '=', expected: identifier")
  throwsSelectorError(() => parseLabelSelector('a=(x)'), "found '(', expected: identifier")
})

test('misplaced commas, bangs and trailing tokens are rejected', () => {
  throwsSelectorError(
    () => parseLabelSelector(',a'),
    "found ',', expected: !, identifier, or 'end of string'",
  )
  throwsSelectorError(() => parseLabelSelector('a=b,'), "found end of string, expected: identifier after ','")
  throwsSelectorError(() => parseLabelSelector('a=b,,c=d'), "found ',', expected: identifier after ','")
  throwsSelectorError(() => parseLabelSelector('!'), 'found end of string, expected: identifier')
  throwsSelectorError(() => parseLabelSelector('!a=b'), "found '=', expected: ',' or 'end of string'")
  throwsSelectorError(() => parseLabelSelector('a=b c'), "found 'c', expected: ',' or 'end of string'")
  throwsSelectorError(() => parseLabelSelector('a=b=c'), "found '=', expected: ',' or 'end of string'")
})

test('a SelectorError is a 400 BadRequest Status at the API', () => {
  const err = throwsSelectorError(() => parseLabelSelector('a in ('))
  const status = err.toStatus()
  assert.is(status.code, 400)
  assert.is(status.reason, 'BadRequest')
  assert.is(status.message, err.message)
})

// --- label selectors: canonical form ---

test('toString prints requirements sorted by key, values sorted, as Kubernetes does', () => {
  const sel = parseLabelSelector('z notin (b,a), !y, x, a==1, b!=2,c>3,d<4, e=5, f in (q,p,q)')
  assert.is(sel.toString(), 'a==1,b!=2,c>3,d<4,e=5,f in (p,q),x,!y,z notin (a,b)')
  assert.is(parseLabelSelector('x in (b), x in (a)').toString(), 'x in (b),x in (a)', 'stable for equal keys')
  assert.is(parseLabelSelector('a in (,x)').toString(), 'a in (,x)')
  assert.is(parseLabelSelector('a in ()').toString(), 'a in ()')
  assert.is(parseLabelSelector('a=').toString(), 'a=')
})

// --- object and map forms ---

test('the object form: matchLabels are equalities, matchExpressions their operators', () => {
  const sel = labelSelectorFromObject({
    matchLabels: { tier: 'front', app: 'web' },
    matchExpressions: [
      { key: 'env', operator: 'In', values: ['prod', 'staging'] },
      { key: 'zone', operator: 'NotIn', values: ['b'] },
      { key: 'gpu', operator: 'Exists' },
      { key: 'canary', operator: 'DoesNotExist', values: [] },
    ],
  })
  assert.is(sel.toString(), 'app=web,!canary,env in (prod,staging),gpu,tier=front,zone notin (b)')
  assert.ok(sel.matches({ app: 'web', tier: 'front', env: 'prod', gpu: '1' }))
  assert.ok(sel.matches({ app: 'web', tier: 'front', env: 'staging', gpu: '1', zone: 'a' }))
  assert.not.ok(sel.matches({ app: 'web', tier: 'front', env: 'prod', gpu: '1', zone: 'b' }))
  assert.not.ok(sel.matches({ app: 'web', tier: 'front', env: 'prod', gpu: '1', canary: 'yes' }))
  assert.not.ok(sel.matches({ app: 'web', tier: 'front', env: 'dev', gpu: '1' }))
  assert.not.ok(sel.matches({ app: 'web', env: 'prod', gpu: '1' }))
})

test('the object form: null selects nothing, {} everything', () => {
  for (const sel of [labelSelectorFromObject(null), labelSelectorFromObject(undefined)]) {
    assert.ok(sel.matchesNothing())
    assert.not.ok(sel.isEmpty())
    assert.not.ok(sel.matches({}))
    assert.not.ok(sel.matches({ app: 'web' }))
    assert.is(sel.toString(), '')
  }
  for (const obj of [{}, { matchLabels: {}, matchExpressions: [] }] as LabelSelectorObject[]) {
    const sel = labelSelectorFromObject(obj)
    assert.ok(sel.isEmpty())
    assert.ok(sel.matches(undefined))
  }
})

test('the object form: invalid operators, value counts, keys and values are rejected', () => {
  const bogus = [
    { key: 'a', operator: 'Gt', values: ['1'] },
  ] as unknown as LabelSelectorObject['matchExpressions']
  throwsSelectorError(
    () => labelSelectorFromObject({ matchExpressions: bogus }),
    '"Gt" is not a valid label selector operator',
  )
  throwsSelectorError(
    () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }),
    "for 'in', 'notin' operators, values set can't be empty",
  )
  throwsSelectorError(
    () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'NotIn' }] }),
    "values set can't be empty",
  )
  throwsSelectorError(
    () => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Exists', values: ['x'] }] }),
    'values set must be empty for exists and does not exist',
  )
  throwsSelectorError(
    () => labelSelectorFromObject({ matchLabels: { 'a b': 'x' } }),
    'invalid label key "a b"',
  )
  throwsSelectorError(
    () => labelSelectorFromObject({ matchLabels: { a: 'x y' } }),
    'invalid label value "x y" for key "a"',
  )
})

test('the object form drops duplicate values, so its printed form parses back', () => {
  const sel = labelSelectorFromObject({
    matchExpressions: [{ key: 'a', operator: 'In', values: ['', 'x', '', 'x', ''] }],
  })
  assert.equal(sel.requirements[0]!.values, ['', 'x'])
  assert.is(sel.toString(), 'a in (,x)')
  assert.is(parseLabelSelector(sel.toString()).toString(), 'a in (,x)')
  assert.is(
    labelSelectorFromObject({
      matchExpressions: [{ key: 'a', operator: 'NotIn', values: ['', '', ''] }],
    }).toString(),
    'a notin ()',
  )
})

test('the map form: equality on every key; an empty map matches everything (callers decide Service policy)', () => {
  const sel = labelSelectorFromMap({ b: '2', a: '1' })
  assert.is(sel.toString(), 'a=1,b=2')
  assert.ok(sel.matches({ a: '1', b: '2', c: '3' }))
  assert.not.ok(sel.matches({ a: '1' }))
  for (const empty of [labelSelectorFromMap({}), labelSelectorFromMap(undefined)]) {
    assert.ok(empty.isEmpty())
    assert.not.ok(empty.matchesNothing())
    assert.ok(empty.matches({ anything: 'x' }))
  }
  throwsSelectorError(() => labelSelectorFromMap({ a: '-x' }), 'invalid label value "-x"')
})

test('everything() and nothing() are the two selectors without requirements', () => {
  assert.ok(LabelSelector.everything().isEmpty())
  assert.ok(LabelSelector.everything().matches(undefined))
  assert.ok(LabelSelector.nothing().matchesNothing())
  assert.not.ok(LabelSelector.nothing().matches(undefined))
  assert.is(LabelSelector.fromRequirements([]), LabelSelector.everything())
})

test('selectors and their requirements are immutable', () => {
  const sel = parseLabelSelector('a in (x,y)')
  assert.ok(Object.isFrozen(sel))
  assert.ok(Object.isFrozen(sel.requirements))
  assert.ok(Object.isFrozen(sel.requirements[0]))
  assert.ok(Object.isFrozen(sel.requirements[0]!.values))
})

test('validateLabelKey and validateLabelValue list problems, empty when valid', () => {
  assert.equal(validateLabelKey('example.com/app'), [])
  assert.equal(validateLabelValue(''), [])
  assert.is(validateLabelKey('').length, 2, 'empty name: non-empty and regex')
  assert.is(validateLabelValue('-'.repeat(64)).length, 2, 'too long and bad characters')
  assert.ok(validateLabelKey(`${'a'.repeat(254)}/x`)[0]!.includes('no more than 253'))
})

// --- label selectors: properties ---

const keyArb = fc.constantFrom('a', 'b', 'app', 'x.y', 'example.com/team', 'in', 'notin')
const valueArb = fc.constantFrom('', '1', '7', 'x', 'y', 'web', 'in', '1x', 'Z_9')
const intValueArb = fc.constantFrom('0', '1', '7', '42')
const labelsArb = fc.option(fc.dictionary(keyArb, fc.oneof(valueArb, intValueArb), { maxKeys: 5 }), {
  nil: undefined,
})
const requirementArb: fc.Arbitrary<LabelRequirement> = fc.oneof(
  fc.record({
    key: keyArb,
    operator: fc.constantFrom('=' as const, '==' as const, '!=' as const),
    values: fc.tuple(valueArb),
  }),
  fc.record({
    key: keyArb,
    operator: fc.constantFrom('in' as const, 'notin' as const),
    values: fc.array(valueArb, { minLength: 1, maxLength: 4 }),
  }),
  fc.record({
    key: keyArb,
    operator: fc.constantFrom('exists' as const, '!' as const),
    values: fc.constant([]),
  }),
  fc.record({
    key: keyArb,
    operator: fc.constantFrom('gt' as const, 'lt' as const),
    values: fc.tuple(intValueArb),
  }),
)

const SPELLING = { '=': '=', '==': '==', '!=': '!=', gt: '>', lt: '<' } as const

/** Writes a requirement the way a user might: random spacing, values in any order and repeated. */
function writeRequirement(r: LabelRequirement, space: string): string {
  const s = space
  switch (r.operator) {
    case 'exists':
      return `${s}${r.key}${s}`
    case '!':
      return `${s}!${s}${r.key}${s}`
    case 'in':
    case 'notin': {
      // Unique: `(,,)` does not parse (in Kubernetes either), so a user never gets to write it.
      const values = [...new Set(r.values)]
      return `${s}${r.key} ${r.operator}${s}(${s}${values.join(`${s},${s}`)}${s})${s}`
    }
    default:
      return `${s}${r.key}${s}${SPELLING[r.operator]}${s}${r.values[0]}${s}`
  }
}

// Fixed seeds replay exactly; fast-check prints the seed and path of any failure.
const PROPERTY_SEED = 20240611

test('property: parseLabelSelector(sel.toString()) matches the same label sets as sel', () => {
  fc.assert(
    fc.property(
      fc.array(requirementArb, { maxLength: 5 }),
      fc.constantFrom('', ' ', '  ', '\t'),
      fc.array(labelsArb, { minLength: 1, maxLength: 12 }),
      (requirements, space, labelSets) => {
        const sel = parseLabelSelector(requirements.map((r) => writeRequirement(r, space)).join(','))
        const again = parseLabelSelector(sel.toString())
        assert.is(again.toString(), sel.toString(), 'the canonical form is a fixed point')
        assert.is(matchPattern(again, labelSets), matchPattern(sel, labelSets))
        // The parsed selector matches exactly when every written requirement does.
        for (const labels of labelSets) {
          const each = requirements.every((r) => LabelSelector.fromRequirements([r]).matches(labels))
          assert.is(sel.matches(labels), each)
        }
      },
    ),
    { seed: PROPERTY_SEED, numRuns: 500 },
  )
})

test('property: an object-form selector and its printed form match the same label sets', () => {
  const expressionArb = fc.oneof(
    fc.record({
      key: keyArb,
      operator: fc.constantFrom('In' as const, 'NotIn' as const),
      values: fc.array(valueArb, { minLength: 1, maxLength: 3 }),
    }),
    fc.record({ key: keyArb, operator: fc.constantFrom('Exists' as const, 'DoesNotExist' as const) }),
  )
  fc.assert(
    fc.property(
      fc.dictionary(keyArb, valueArb, { maxKeys: 3 }),
      fc.array(expressionArb, { maxLength: 3 }),
      fc.array(labelsArb, { minLength: 1, maxLength: 12 }),
      (matchLabels, matchExpressions, labelSets) => {
        const sel = labelSelectorFromObject({ matchLabels, matchExpressions })
        const printed = parseLabelSelector(sel.toString())
        assert.is(matchPattern(printed, labelSets), matchPattern(sel, labelSets))
      },
    ),
    { seed: PROPERTY_SEED + 1, numRuns: 300 },
  )
})

// --- field selectors ---

test('field selectors: =, == and != over the allowed fields', () => {
  const fields = { 'metadata.name': 'p1', 'spec.nodeName': 'n1', 'status.phase': 'Running' }
  for (const text of ['spec.nodeName=n1', 'spec.nodeName==n1']) {
    const sel = parseFieldSelector(text, FIELD_SELECTOR_FIELDS)
    assert.ok(sel.matches(fields), text)
    assert.not.ok(sel.matches({ ...fields, 'spec.nodeName': 'n2' }), text)
    assert.equal(sel.requirements, [{ field: 'spec.nodeName', operator: '=', value: 'n1' }])
  }
  const notRunning = parseFieldSelector('status.phase!=Running', FIELD_SELECTOR_FIELDS)
  assert.not.ok(notRunning.matches(fields))
  assert.ok(notRunning.matches({ ...fields, 'status.phase': 'Pending' }))
  const both = parseFieldSelector('status.phase!=Failed,metadata.name=p1', FIELD_SELECTOR_FIELDS)
  assert.ok(both.matches(fields))
  assert.not.ok(both.matches({ ...fields, 'metadata.name': 'p2' }))
})

test('field selectors: a missing field reads as the empty string', () => {
  assert.ok(parseFieldSelector('spec.nodeName=', FIELD_SELECTOR_FIELDS).matches({}))
  assert.ok(parseFieldSelector('spec.nodeName!=n1', FIELD_SELECTOR_FIELDS).matches({}))
  assert.not.ok(parseFieldSelector('spec.nodeName!=', FIELD_SELECTOR_FIELDS).matches({}))
})

test('field selectors: the empty selector and empty terms', () => {
  for (const text of ['', ',', ',,']) {
    const sel = parseFieldSelector(text, FIELD_SELECTOR_FIELDS)
    assert.ok(sel.isEmpty(), JSON.stringify(text))
    assert.ok(sel.matches({}))
    assert.is(sel.toString(), '')
  }
  assert.is(parseFieldSelector('metadata.name=a,,', FIELD_SELECTOR_FIELDS).requirements.length, 1)
  assert.ok(FieldSelector.everything().isEmpty())
})

test('field selectors: \\, \\= and \\\\ escape values', () => {
  const sel = parseFieldSelector('metadata.name=a\\,b\\=c\\\\d,status.phase=x', FIELD_SELECTOR_FIELDS)
  assert.equal(sel.requirements[0], { field: 'metadata.name', operator: '=', value: 'a,b=c\\d' })
  assert.ok(sel.matches({ 'metadata.name': 'a,b=c\\d', 'status.phase': 'x' }))
  assert.is(sel.toString(), 'metadata.name=a\\,b\\=c\\\\d,status.phase=x')
  assert.is(escapeFieldSelectorValue('a,b=c\\d'), 'a\\,b\\=c\\\\d')
  // An escaped backslash does not escape the comma after it.
  const two = parseFieldSelector('metadata.name=a\\\\,status.phase=b', FIELD_SELECTOR_FIELDS)
  assert.equal(
    two.requirements.map((r) => r.value),
    ['a\\', 'b'],
  )
})

test('field selectors: bad escapes, bare = in values and missing operators are rejected', () => {
  throwsSelectorError(
    () => parseFieldSelector('metadata.name=a\\b', FIELD_SELECTOR_FIELDS),
    'invalid escape sequence: \\b',
  )
  throwsSelectorError(
    () => parseFieldSelector('metadata.name=a\\', FIELD_SELECTOR_FIELDS),
    'invalid escape sequence: \\',
  )
  throwsSelectorError(
    () => parseFieldSelector('metadata.name=a=b', FIELD_SELECTOR_FIELDS),
    "unescaped character in value: '='",
  )
  throwsSelectorError(
    () => parseFieldSelector('metadata.name', FIELD_SELECTOR_FIELDS),
    "invalid selector: 'metadata.name'; can't understand 'metadata.name'",
  )
})

test('field selectors: a field not allowed is rejected as not supported; whitespace is significant', () => {
  throwsSelectorError(
    () => parseFieldSelector('spec.restartPolicy=Always', FIELD_SELECTOR_FIELDS),
    'field label not supported: spec.restartPolicy',
  )
  throwsSelectorError(
    () => parseFieldSelector('metadata.name=a,foo!=b', FIELD_SELECTOR_FIELDS),
    'field label not supported: foo',
  )
  throwsSelectorError(
    () => parseFieldSelector('metadata.name = a', FIELD_SELECTOR_FIELDS),
    'field label not supported: metadata.name ',
  )
  throwsSelectorError(
    () => parseFieldSelector('spec.nodeName=n1', ['metadata.name']),
    'field label not supported: spec.nodeName',
  )
  const status = throwsSelectorError(() => parseFieldSelector('x=y', [])).toStatus()
  assert.is(status.code, 400)
})

test('field selectors: toString is canonical: terms sorted, == printed as =', () => {
  const sel = parseFieldSelector(
    'status.phase!=Failed,metadata.name==p1,spec.nodeName=n1',
    FIELD_SELECTOR_FIELDS,
  )
  assert.is(sel.toString(), 'metadata.name=p1,spec.nodeName=n1,status.phase!=Failed')
  assert.is(parseFieldSelector(sel.toString(), FIELD_SELECTOR_FIELDS).toString(), sel.toString())
})

test('field selectors: fromRequirements builds one in code', () => {
  const sel = FieldSelector.fromRequirements([{ field: 'spec.nodeName', operator: '=', value: 'n1' }])
  assert.ok(sel.matches({ 'spec.nodeName': 'n1' }))
  assert.ok(Object.isFrozen(sel.requirements[0]))
  assert.is(FieldSelector.fromRequirements([]), FieldSelector.everything())
})

test('property: escaped field values parse back to themselves', () => {
  fc.assert(
    fc.property(fc.string({ unit: 'grapheme', maxLength: 20 }), fc.string({ maxLength: 20 }), (a, b) => {
      const text = `metadata.name=${escapeFieldSelectorValue(a)},status.phase!=${escapeFieldSelectorValue(b)}`
      const sel = parseFieldSelector(text, FIELD_SELECTOR_FIELDS)
      assert.ok(sel.matches({ 'metadata.name': a, 'status.phase': `${b}!` }))
      assert.not.ok(sel.matches({ 'metadata.name': a, 'status.phase': b }))
      assert.is(parseFieldSelector(sel.toString(), FIELD_SELECTOR_FIELDS).toString(), sel.toString())
    }),
    { seed: PROPERTY_SEED + 2, numRuns: 300 },
  )
})

test('objectFields reads name, namespace, node and phase, empty when absent', () => {
  assert.equal(FIELD_SELECTOR_FIELDS, [
    'metadata.name',
    'metadata.namespace',
    'spec.nodeName',
    'status.phase',
  ])
  const pod = {
    metadata: { name: 'p1', namespace: 'default' },
    spec: { nodeName: 'n1', containers: [] },
    status: { phase: 'Running' },
  }
  assert.equal(objectFields(pod), {
    'metadata.name': 'p1',
    'metadata.namespace': 'default',
    'spec.nodeName': 'n1',
    'status.phase': 'Running',
  })
  assert.equal(objectFields({ metadata: { name: 'ns1' } }), {
    'metadata.name': 'ns1',
    'metadata.namespace': '',
    'spec.nodeName': '',
    'status.phase': '',
  })
  assert.is(objectFields({ metadata: {}, spec: { nodeName: 7 } })['spec.nodeName'], '')
  const onNode = parseFieldSelector('spec.nodeName=n1,metadata.namespace=default', FIELD_SELECTOR_FIELDS)
  assert.ok(onNode.matches(objectFields(pod)))
  assert.not.ok(onNode.matches(objectFields({ ...pod, spec: {} })))
})

test.run()
