import { IsIn, IsInt, IsObject, IsString, Min } from 'class-validator';

import { CLIENT_MESSAGE_TYPES, type ClientMessageType } from '../../../protocol/frames';
import { Optional } from '../../../common/http/optional-field';
import { MaxCodePoints } from '../../../common/text-length';

export { CLIENT_MESSAGE_TYPES, type ClientMessageType };

// The envelope of CONTRACT §2 as a client may send it. Fields the server sets (seq, sender,
// timestamp, error…) are tolerated so clients can echo frames, but never trusted.
export class ClientEnvelopeDto {
  @IsIn(CLIENT_MESSAGE_TYPES)
  type!: ClientMessageType;

  @Optional() @IsString() @MaxCodePoints(64) session_id?: string;
  @Optional() @IsString() @MaxCodePoints(128) id?: string;
  @Optional() @IsString() @MaxCodePoints(128) client_id?: string;
  // the length bound per type is checked after validation (it is a setting)
  @Optional() @IsString() content?: string;
  @Optional() @IsString() @MaxCodePoints(16) sender?: string;
  @Optional() @IsString() @MaxCodePoints(64) timestamp?: string;
  @Optional() @IsString() @MaxCodePoints(128) model_id?: string;
  @Optional() @IsString() @MaxCodePoints(128) file_id?: string;
  @Optional() @IsString() @MaxCodePoints(2048) file_url?: string;
  @Optional() @IsObject() metadata?: Record<string, unknown>;
  @Optional() @IsObject() error?: Record<string, unknown>;
  @Optional() @IsInt() @Min(0) seq?: number;
  @Optional() @IsInt() @Min(0) last_seq?: number;
}
