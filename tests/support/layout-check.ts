/**
 * Test support: what a person would see as broken in a rendered page,
 * measured in the browser. Horizontal scrolling (of the page or of any
 * box), text cut by or spilling out of its box (scrollWidth > clientWidth
 * where the box neither scrolls nor ends in an ellipsis), interactive
 * elements sticking out of the window, and interactive elements whose
 * boxes overlap. With a dialog open, only the dialog is checked (the rest
 * is behind it). Returns one readable line per problem.
 */
import type { Page } from 'playwright-core';

/** Pixels of rounding (sub-pixel layout, 1 px borders of badges) not counted as a problem. */
const SLACK_PX = 2;

/** Runs in the page: plain JavaScript in a string, so the test's compiler does not need DOM types. */
const CHECK = `(slack) => {
  const problems = [];
  const name = (el) => {
    const cls = typeof el.className === 'string' && el.className.trim() ? '.' + el.className.trim().split(/\\s+/).join('.') : '';
    const text = (el.innerText || el.value || el.getAttribute('aria-label') || '').trim().replace(/\\s+/g, ' ').slice(0, 40);
    return el.tagName.toLowerCase() + cls + (text ? ' "' + text + '"' : '');
  };
  const shown = (el) => {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || r.height === 0) return false;
    const cs = getComputedStyle(el);
    return cs.visibility !== 'hidden' && cs.display !== 'none';
  };
  const scrolls = (v) => v === 'auto' || v === 'scroll';
  const root = document.documentElement;
  if (root.scrollWidth > root.clientWidth + slack) problems.push('the page scrolls sideways: ' + root.scrollWidth + ' px of content in ' + root.clientWidth + ' px');
  const scope = document.querySelector('.overlay') || document.body;
  const fields = new Set(['TEXTAREA', 'INPUT', 'SELECT', 'OPTION', 'PROGRESS']);
  for (const el of scope.querySelectorAll('*')) {
    if (!shown(el) || fields.has(el.tagName) || el.closest('svg')) continue;
    const cs = getComputedStyle(el);
    if (cs.display === 'inline' || cs.display === 'contents') continue;
    const over = el.scrollWidth - el.clientWidth;
    if (over <= slack) continue;
    if (scrolls(cs.overflowX)) {
      problems.push('scrolls sideways: ' + name(el) + ' (' + el.scrollWidth + ' > ' + el.clientWidth + ')');
    } else if (cs.textOverflow !== 'ellipsis') {
      problems.push((cs.overflowX === 'visible' ? 'spills out of its box: ' : 'cut off: ') + name(el) + ' (' + el.scrollWidth + ' > ' + el.clientWidth + ')');
    }
  }
  // Interactive elements, with the part of them not scrolled out of sight.
  const visibleRect = (el) => {
    let r = el.getBoundingClientRect();
    let box = { l: r.left, t: r.top, r: r.right, b: r.bottom };
    for (let p = el.parentElement; p; p = p.parentElement) {
      const cs = getComputedStyle(p);
      if (cs.overflowX === 'visible' && cs.overflowY === 'visible') continue;
      const q = p.getBoundingClientRect();
      box = { l: Math.max(box.l, q.left), t: Math.max(box.t, q.top), r: Math.min(box.r, q.right), b: Math.min(box.b, q.bottom) };
    }
    return box.r - box.l > 0 && box.b - box.t > 0 ? box : null;
  };
  const controls = [...scope.querySelectorAll('button, a[href], input:not([type=hidden]), select, textarea, summary')]
    .filter(shown)
    .map((el) => ({ el, box: visibleRect(el) }))
    .filter((c) => c.box);
  for (const c of controls) {
    if (c.box.l < -slack || c.box.r > innerWidth + slack) problems.push('outside the window: ' + name(c.el));
  }
  for (let i = 0; i < controls.length; i++) {
    for (let j = i + 1; j < controls.length; j++) {
      const a = controls[i], b = controls[j];
      if (a.el.contains(b.el) || b.el.contains(a.el)) continue;
      const w = Math.min(a.box.r, b.box.r) - Math.max(a.box.l, b.box.l);
      const h = Math.min(a.box.b, b.box.b) - Math.max(a.box.t, b.box.t);
      if (w > slack && h > slack) problems.push('overlap: ' + name(a.el) + ' and ' + name(b.el));
    }
  }
  return problems;
}`;

export async function layoutProblems(page: Page): Promise<string[]> {
  return page.evaluate(`(${CHECK})(${SLACK_PX})`);
}
