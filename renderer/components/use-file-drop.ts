/**
 * Drag-and-drop of files onto an element: tracks whether files hover over it
 * (for the highlight) and hands the drop, read at once, to the callback.
 * Drops that carry no files (text, links) are left alone.
 */
import { useRef, useState, type DragEvent } from 'react';
import { collectDrop, hasFiles, type DropBundle } from '../transport/host.js';

export interface FileDropHandlers {
  onDragEnter(e: DragEvent): void;
  onDragOver(e: DragEvent): void;
  onDragLeave(e: DragEvent): void;
  onDrop(e: DragEvent): void;
}

export function useFileDrop(onFiles: ((drop: DropBundle) => void) | null): { over: boolean; handlers: FileDropHandlers } {
  const [over, setOver] = useState(false);
  // dragenter/dragleave fire for every child crossed: count them.
  const depth = useRef(0);
  const handlers: FileDropHandlers = {
    onDragEnter(e) {
      if (!onFiles || !hasFiles(e.dataTransfer)) return;
      e.preventDefault();
      depth.current++;
      setOver(true);
    },
    onDragOver(e) {
      if (!onFiles || !hasFiles(e.dataTransfer)) return;
      e.preventDefault();
      e.dataTransfer.dropEffect = 'copy';
    },
    onDragLeave() {
      if (!onFiles) return;
      depth.current = Math.max(0, depth.current - 1);
      if (depth.current === 0) setOver(false);
    },
    onDrop(e) {
      if (!onFiles || !hasFiles(e.dataTransfer)) return;
      e.preventDefault();
      e.stopPropagation();
      depth.current = 0;
      setOver(false);
      const drop = collectDrop(e.dataTransfer);
      if (drop.files.length > 0) onFiles(drop);
    },
  };
  return { over, handlers };
}
