import { IsIn, IsInt, IsObject, IsOptional, IsString, MaxLength, Min } from 'class-validator';

import { CLIENT_MESSAGE_TYPES, type ClientMessageType } from '../../../protocol/frames';

export { CLIENT_MESSAGE_TYPES, type ClientMessageType };

// The envelope of CONTRACT §2 as a client may send it. Fields the server sets (seq, sender,
// timestamp, error…) are tolerated so clients can echo frames, but never trusted.
export class ClientEnvelopeDto {
  @IsIn(CLIENT_MESSAGE_TYPES)
  type!: ClientMessageType;

  @IsOptional() @IsString() @MaxLength(64) session_id?: string;
  @IsOptional() @IsString() @MaxLength(128) id?: string;
  @IsOptional() @IsString() @MaxLength(128) client_id?: string;
  // the length bound per type is checked after validation (it is a setting)
  @IsOptional() @IsString() content?: string;
  @IsOptional() @IsString() @MaxLength(16) sender?: string;
  @IsOptional() @IsString() @MaxLength(64) timestamp?: string;
  @IsOptional() @IsString() @MaxLength(128) model_id?: string;
  @IsOptional() @IsString() @MaxLength(128) file_id?: string;
  @IsOptional() @IsString() @MaxLength(2048) file_url?: string;
  @IsOptional() @IsObject() metadata?: Record<string, unknown>;
  @IsOptional() @IsObject() error?: Record<string, unknown>;
  @IsOptional() @IsInt() @Min(0) seq?: number;
  @IsOptional() @IsInt() @Min(0) last_seq?: number;
}
