/** A modal dialog frame: a title, content, and a row of buttons; Escape calls onEscape when given (a dialog that must be answered gives none). */
import { useEffect, useRef, type ReactNode } from 'react';

export interface DialogProps {
  title: string;
  children: ReactNode;
  actions: ReactNode;
  onEscape?: () => void;
  className?: string;
}

export function Dialog({ title, children, actions, onEscape, className }: DialogProps) {
  const box = useRef<HTMLDivElement>(null);
  useEffect(() => {
    box.current?.querySelector<HTMLElement>('button.primary, button, input')?.focus();
  }, []);
  return (
    <div className="overlay" onKeyDown={(e) => e.key === 'Escape' && onEscape?.()}>
      <div ref={box} className={`dialog ${className ?? ''}`} role="dialog" aria-modal="true" aria-label={title}>
        <h2>{title}</h2>
        <div className="dialog-body">{children}</div>
        <div className="dialog-actions">{actions}</div>
      </div>
    </div>
  );
}
