// Wire types from docs/api.md. Everything the server sends is clawchat's own schema; the event
// payloads are generated from the server's Go types into wire.ts (go generate ./internal/chat).
import type { EventMap, EventName, HostContext, MemberView, Sender } from './wire';

export type { EventMap, EventName, MemberView, Sender };

/** One server event with its typed payload: switch on `name` to narrow `p`. */
export type WireEvent = { [K in EventName]: { name: K; p: EventMap[K] } }[EventName];

export interface User { id: string; name: string; role: 'owner' | 'member' | string }

export interface Conversation {
  id: string;
  title: string;
  agentId?: string;
  kind: 'conversation' | 'gateway' | string;
  createdAt?: string;
  updatedAt?: string;
  lastActivityAt?: string;
  archived?: boolean;
  pinned?: boolean;
  running?: boolean;
  runId?: string | null;
  queued?: number;
  /** The caller's role in a shared conversation (owner, member, read-only). */
  role?: string;
  shared?: boolean;
  /** A member takes part: the conversation runs under the member policy. */
  memberPolicy?: boolean;
  /** The host app context of an embedded conversation (docs/embed.md); listed in its own group. */
  context?: HostContext;
}

export interface ToolCall {
  id: string;
  name: string;
  args?: string;
  result?: string;
  error?: boolean;
  /** client-side: running while a live run reports start/update */
  status?: 'running' | 'done' | 'error';
  durationMs?: number;
}

/** A file a message was sent with: `source` from history (served by /api/sessions/{key}/media), `url` a local preview while sending. */
export interface MessageAttachment { name: string; mimeType: string; kind?: string; size?: number; source?: string; url?: string }

export interface Usage { input?: number; output?: number; cost?: number }

export interface Message {
  id: string;
  role: 'user' | 'assistant' | 'tool' | string;
  at?: string;
  text: string;
  reasoning?: string;
  tools?: ToolCall[];
  usage?: Usage | null;
  aborted?: boolean;
  error?: string | null;
  kind?: 'message' | 'compaction' | string;
  runId?: string | null;
  /** Who typed a user message (shared conversations; absent in history loaded from the Gateway). */
  sender?: Sender;
  // client-only
  streaming?: boolean;
  /** The run text revision this message reflects (run.delta and run.snapshot "rev"). */
  textRev?: number;
  pending?: boolean;
  queuedPosition?: number;
  phase?: string;
  stopReason?: string;
  /** run.approval: waiting for an owner's decision on a command, then its outcome. */
  approval?: 'waiting' | 'allow-once' | 'allow-always' | 'deny' | 'expired' | string;
  attachments?: MessageAttachment[];
  /** ConvState.rev when this message last changed locally */
  rev?: number;
}

export interface History {
  messages: Message[];
  hasMore: boolean;
  cursor?: string;
  running?: boolean;
  runId?: string | null;
}

export interface Limits { maxTextBytes?: number; maxAttachmentBytes?: number; maxImageBytes?: number }

export type GatewayState = 'connected' | 'reconnecting' | 'down' | 'pairing_required' | string;

export interface Hello {
  epoch: string;
  seq: number;
  user: User;
  gateway: { state: GatewayState };
  limits?: Limits;
}

export interface ServerEvent { type: 'event'; event: string; seq?: number; payload: unknown }

export interface Agent { id: string; name: string; emoji?: string }

/** GET /api/config (public, before sign-in). Upload limits are not here: they arrive in the
 *  WebSocket `hello` (Hello.limits). */
export interface AppConfig {
  auth?: { local?: boolean; oidc?: { enabled?: boolean; label?: string; url?: string } };
  push?: { vapidPublicKey?: string };
  build?: string;
  version?: string;
}

export interface Approval {
  id: string;
  command?: string;
  cwd?: string;
  host?: string;
  agentId?: string;
  conversation?: string;
  expiresAt?: string | number;
  expiresAtMs?: number;
  warningText?: string;
  requestedBy?: string;
  conversationTitle?: string;
  createdAtMs?: number;
  request?: { command?: string; commandArgv?: string[]; cwd?: string; host?: string; warningText?: string };
}
