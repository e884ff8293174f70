import { describe, expect, it, vi } from 'vitest';

// A scripted socket: requests wait until the test answers them.
const pending: { method: string; resolve(v: any): void }[] = [];
vi.mock('../src/socket', () => ({
  RequestError: class extends Error {},
  Socket: class {
    constructor(public h: any) {}
    start() {}
    stop() {}
    request(method: string) { return new Promise((resolve) => pending.push({ method, resolve })); }
  },
}));
vi.mock('../src/api', () => ({ api: { me: vi.fn(), reactions: () => Promise.resolve({ reactions: {} }) } }));

const store = await import('../src/store');
const flush = () => new Promise((r) => setTimeout(r, 0));
const take = (method: string) => {
  const i = pending.findIndex((p) => p.method === method);
  expect(i, `a pending ${method}`).toBeGreaterThanOrEqual(0);
  return pending.splice(i, 1)[0];
};

describe('conversation list', () => {
  it('a list answer requested before a create does not drop the new conversation', async () => {
    store.startSocket();
    const list = store.refreshList();
    await flush();
    const stale = take('conversations.list');
    const created = store.createConversation();
    await flush();
    take('conversations.create').resolve({ id: 'c-new', title: '', kind: 'conversation' });
    await created;
    expect(store.conversations.value.map((c) => c.id)).toEqual(['c-new']);

    stale.resolve({ conversations: [] }); // answered before the create was stored
    await flush();
    expect(store.conversations.value.map((c) => c.id)).toEqual(['c-new']);
    take('conversations.list').resolve({ conversations: [{ id: 'c-new', title: 'from server', kind: 'conversation' }] });
    await list;
    expect(store.conversations.value.map((c) => c.title)).toEqual(['from server']);
  });

  it('an answer with no change in between is applied at once', async () => {
    const list = store.refreshList();
    await flush();
    take('conversations.list').resolve({ conversations: [] });
    await list;
    expect(store.conversations.value).toEqual([]);
    expect(pending.filter((p) => p.method === 'conversations.list')).toHaveLength(0);
  });
});
