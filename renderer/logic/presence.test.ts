import { describe, expect, it } from 'vitest';
import { presenceChange } from './presence.js';

describe('changing my presence', () => {
  it('clears the away text when going back to Online, and keeps it for Away and Busy', () => {
    expect(presenceChange('online', 'at lunch')).toEqual({ status: 'online', away: '' });
    expect(presenceChange('busy', 'at lunch')).toEqual({ status: 'busy', away: 'at lunch' });
    expect(presenceChange('away', 'at lunch')).toEqual({ status: 'away', away: 'at lunch' });
  });
});
