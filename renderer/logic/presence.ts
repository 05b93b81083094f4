/** What a change of my presence sends: back to Online clears the away text (it described the absence that ended). */
import type { SelfInfo } from '../../shared/api/control-api.js';

export type Status = SelfInfo['status'];

export function presenceChange(status: Status, away: string): { status: Status; away: string } {
  return { status, away: status === 'online' ? '' : away };
}
