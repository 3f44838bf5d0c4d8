import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { annotationOf, annotationsOf, clone, labelOf, labelsOf } from './objects.ts';

describe('clone (deep copy of JSON data)', () => {
  test('copies every level, equal to the original and sharing nothing with it', () => {
    const original = { a: [1, { b: 'x', c: [null, true] }], d: { e: { f: 0 } } };
    const copy = clone(original);
    assert.deepEqual(copy, original);
    assert.notEqual(copy.a, original.a);
    assert.notEqual(copy.a[1], original.a[1]);
    assert.notEqual(copy.d.e, original.d.e);
    copy.d.e.f = 1;
    assert.equal(original.d.e.f, 0);
  });

  test('leaves undefined properties out, as JSON does, and copies scalars and undefined as they are', () => {
    assert.deepEqual(clone({ a: undefined, b: 1 }), { b: 1 });
    assert.equal(clone('s'), 's');
    assert.equal(clone(undefined), undefined);
  });

  test('a __proto__ key from a request body stays a property and never becomes the prototype', () => {
    const parsed = JSON.parse('{"__proto__": {"polluted": true}, "x": 1}') as Record<string, unknown>;
    const copy = clone(parsed);
    assert.equal(Object.getPrototypeOf(copy), Object.prototype);
    assert.equal((copy as { polluted?: boolean }).polluted, undefined);
    assert.deepEqual(Object.keys(copy), ['__proto__', 'x']);
    assert.equal(JSON.stringify(copy), JSON.stringify(parsed));
  });
});

describe('labelOf / annotationOf (one value, nothing copied)', () => {
  test('read what labelsOf / annotationsOf read, for any key', () => {
    const object = JSON.parse(
      '{"metadata":{"labels":{"a":"1","n":2,"__proto__":"p","toString":"t"},"annotations":{"x/y":"z","o":{}}}}',
    ) as unknown;
    for (const key of ['a', 'n', 'toString', 'hasOwnProperty', 'missing']) {
      const copied = Object.hasOwn(labelsOf(object), key) ? labelsOf(object)[key] : undefined;
      assert.equal(labelOf(object, key), copied, key);
    }
    // JSON.parse makes "__proto__" an own key: a label like any other here (the copy cannot hold it).
    assert.equal(labelOf(object, '__proto__'), 'p');
    assert.equal(labelOf(object, 'n'), undefined, 'a number is no label value');
    assert.equal(labelOf(object, 'constructor'), undefined, 'inherited properties are not labels');
    assert.equal(annotationOf(object, 'x/y'), 'z');
    assert.equal(annotationOf(object, 'o'), undefined);
    assert.equal(annotationsOf(object)['x/y'], annotationOf(object, 'x/y'));
  });

  test('anything without labels or annotations has none', () => {
    for (const object of [null, undefined, 'text', [], {}, { metadata: null }, { metadata: { labels: ['a'] } }]) {
      assert.equal(labelOf(object, '0'), undefined);
      assert.equal(annotationOf(object, 'a'), undefined);
    }
  });
});
