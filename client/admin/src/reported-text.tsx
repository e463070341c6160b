import { isUnreadable, UNREADABLE_TEXT } from '../../shared/unreadable';
import type { RoomReport } from './rooms-api';

// A reported message as it read when it was reported (docs/protocol.md, "Reports"): its author may
// have edited or deleted it since, so the room's copy may no longer show what was reported.
export function ReportedText({ report }: { report: RoomReport }) {
  const reported = report.reported;
  if (!reported) return <span class="muted">Not kept (reported before reports kept the text)</span>;
  if (reported.deleted) return <span class="muted">Deleted before it was reported</span>;
  if (isUnreadable(reported))
    return (
      <span class="muted unreadable" data-testid="reported-text">
        {UNREADABLE_TEXT}
      </span>
    );
  return (
    <span class="reported-text" data-testid="reported-text">
      {reported.content ?? ''}
      {reported.file_name !== undefined && <span class="muted"> (file: {reported.file_name})</span>}
      {reported.edited_at !== undefined && <span class="muted"> (edited)</span>}
    </span>
  );
}
