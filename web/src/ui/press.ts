// Long press on touch, shared by the message and conversation-row menus.

/**
 * The finger that opened a menu by a long press is still down, over the menu that just
 * appeared: the click its release makes must not press the menu item under it. swallowRelease
 * arms that (until the finger lifts, then 400 ms); swallowClick, a capturing click handler on
 * the menu's backdrop, drops that one click.
 */
let swallowUntil = 0;
export function swallowRelease(): void {
  swallowUntil = Infinity;
  const up = () => { swallowUntil = Date.now() + 400; removeEventListener('pointerup', up, true); removeEventListener('pointercancel', up, true); };
  addEventListener('pointerup', up, true);
  addEventListener('pointercancel', up, true);
}
export function swallowClick(e: MouseEvent): void {
  if (Date.now() < swallowUntil) { e.preventDefault(); e.stopPropagation(); swallowUntil = 0; }
}

/** How long a finger rests before a press counts as long, in ms. */
export const LONG_PRESS = 450;

/**
 * Pointer handlers that call open(x, y) when a touch (or pen) rests LONG_PRESS ms on an element
 * without moving more than 10 px; mouse presses are ignored (right click opens the context menu).
 * skip(target) excludes parts of the element (its buttons, links).
 */
export function longPressHandlers(open: (x: number, y: number) => void, skip?: (t: HTMLElement) => boolean) {
  let press: { t: ReturnType<typeof setTimeout>; x: number; y: number } | null = null;
  const cancel = () => { if (press) { clearTimeout(press.t); press = null; } };
  return {
    onPointerDown: (e: PointerEvent) => {
      if (e.pointerType === 'mouse' || skip?.(e.target as HTMLElement)) return;
      cancel();
      const { clientX: x, clientY: y } = e;
      press = { t: setTimeout(() => { press = null; swallowRelease(); open(x, y); }, LONG_PRESS), x, y };
    },
    onPointerMove: (e: PointerEvent) => {
      if (press && Math.hypot(e.clientX - press.x, e.clientY - press.y) > 10) cancel();
    },
    onPointerUp: cancel,
    onPointerCancel: cancel,
  };
}
