import { createElement, type FunctionComponent } from 'preact';

/**
 * A component that re-renders only when a prop changes (shallow comparison), like preact/compat's
 * memo without loading compat. Signals read inside c still re-render it on their own.
 */
export function memo<P extends object>(c: FunctionComponent<P>): FunctionComponent<P> {
  function Memo(this: { props: P; shouldComponentUpdate?: (next: P) => boolean }, props: P) {
    this.shouldComponentUpdate = (next: P) => changed(this.props, next);
    return createElement(c, props);
  }
  return Memo as FunctionComponent<P>;
}

function changed(a: object, b: object): boolean {
  for (const k in a) if (k !== '__source' && !(k in b)) return true;
  for (const k in b) if (k !== '__source' && (a as Record<string, unknown>)[k] !== (b as Record<string, unknown>)[k]) return true;
  return false;
}
