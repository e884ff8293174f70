import { describe, expect, it } from 'vitest';
import { Resume } from '../src/resume';

describe('resume bookkeeping', () => {
  it('starts fresh, then resumes from the last applied seq', () => {
    const r = new Resume();
    expect(r.subscribeParams()).toEqual({});
    expect(r.onSubscribed({ epoch: 'E1', seq: 10, resync: false })).toBe(false);
    expect(r.accept('run.delta', 11)).toBe('apply');
    expect(r.accept('run.delta', 12)).toBe('apply');
    expect(r.subscribeParams()).toEqual({ epoch: 'E1', since: 12 });
  });

  it('drops duplicates replayed after a reconnect and applies only newer events', () => {
    const r = new Resume();
    r.onSubscribed({ epoch: 'E1', seq: 0 });
    for (let i = 1; i <= 5; i++) expect(r.accept('run.delta', i)).toBe('apply');
    r.reset();
    expect(r.onSubscribed({ epoch: 'E1', seq: 8, resync: false })).toBe(false);
    expect(r.accept('run.delta', 4)).toBe('duplicate');
    expect(r.accept('run.delta', 5)).toBe('duplicate');
    expect(r.accept('run.delta', 6)).toBe('apply');
    expect(r.accept('run.delta', 6)).toBe('duplicate');
    expect(r.accept('run.delta', 7)).toBe('apply');
    expect(r.seq).toBe(7);
  });

  it('asks for a reload on a new epoch or a resync', () => {
    const r = new Resume();
    r.onSubscribed({ epoch: 'E1', seq: 3 });
    r.accept('x', 4);
    expect(r.onSubscribed({ epoch: 'E2', seq: 2, resync: true })).toBe(true);
    expect(r.epoch).toBe('E2');
    expect(r.seq).toBe(2);
    // snapshots and resync are applied even if numbered at or below the cursor
    expect(r.accept('resync', 1)).toBe('apply');
    expect(r.accept('run.snapshot', 2)).toBe('apply');
    expect(r.accept('run.delta', 3)).toBe('apply');
    expect(r.onSubscribed({ epoch: 'E2', seq: 9, resync: true })).toBe(true);
  });

  it('reports a gap when events are skipped', () => {
    const r = new Resume();
    r.onSubscribed({ epoch: 'E', seq: 1 });
    expect(r.accept('a', 2)).toBe('apply');
    expect(r.accept('a', 5)).toBe('gap');
    expect(r.seq).toBe(5);
  });

  it('applies events without a seq', () => {
    const r = new Resume();
    expect(r.accept('hello', undefined)).toBe('apply');
    expect(r.seq).toBe(0);
  });
});
