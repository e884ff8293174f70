import { describe, expect, it } from 'vitest';
import { handleShareEvent, members, typing, typingNames, typingText, viewers, initials, takeJoinToken } from '../src/share';
import type { WireEvent } from '../src/types';

const ev = (name: string, p: unknown) => ({ name, p }) as WireEvent;

describe('shared conversations', () => {
  it('keeps members, viewers and typists per conversation, and forgets a conversation that is gone', () => {
    expect(handleShareEvent(ev('conversation.members', { conversation: 'trip', role: 'member', members: [{ userId: 'alice', name: 'Alice', role: 'owner' }] }))).toBe(true);
    expect(members.value.trip.role).toBe('member');
    handleShareEvent(ev('presence', { conversation: 'trip', viewers: [{ userId: 'alice', name: 'Alice' }] }));
    expect(viewers.value.trip).toHaveLength(1);
    handleShareEvent(ev('typing', { conversation: 'trip', userId: 'bob', name: 'Bob', typing: true }));
    handleShareEvent(ev('typing', { conversation: 'trip', userId: 'me', name: 'Me', typing: true }));
    expect(typingNames('trip', 'me')).toEqual(['Bob']);
    handleShareEvent(ev('typing', { conversation: 'trip', userId: 'bob', name: 'Bob', typing: false }));
    expect(typingNames('trip', 'me')).toEqual([]);
    // conversation.deleted is also the list's: not consumed, but the share state is dropped.
    expect(handleShareEvent(ev('conversation.deleted', { id: 'trip' }))).toBe(false);
    expect(members.value.trip).toBeUndefined();
    expect(viewers.value.trip).toBeUndefined();
    expect(handleShareEvent(ev('run.delta', { conversation: 'trip', runId: 'r', text: 'x', rev: 1 }))).toBe(false);
    expect(typing.value).toBeTruthy();
  });

  it('words the typing line and draws initials', () => {
    expect(typingText([])).toBe('');
    expect(typingText(['Bob'])).toBe('Bob is typing…');
    expect(typingText(['Bob', 'Carol'])).toBe('Bob and Carol are typing…');
    expect(typingText(['a', 'b', 'c'])).toBe('3 people are typing…');
    expect(initials('Ada Lovelace')).toBe('AL');
    expect(initials('bob')).toBe('B');
  });

  it('takes a join token from the address once, and only a well-formed one', () => {
    const tok = 'A'.repeat(43);
    location.hash = '#join=' + tok;
    expect(takeJoinToken()).toBe(tok);
    expect(location.hash).toBe('');
    location.hash = '#join=short';
    expect(takeJoinToken()).toBeNull();
  });
});
