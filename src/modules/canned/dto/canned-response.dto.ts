import { IsOptional, IsString, Length, Matches } from 'class-validator';

const SHORTCUT = /^[a-z0-9][a-z0-9_-]{0,31}$/;
const SHORTCUT_MESSAGE = 'shortcut must be 1-32 lower-case letters, digits, "_" or "-"';

// POST /chat/admin/canned-responses
export class CreateCannedResponseDto {
  @IsString() @Length(1, 100) title!: string;
  @IsString() @Length(1, 4000) text!: string;
  @IsString() @Matches(SHORTCUT, { message: SHORTCUT_MESSAGE }) shortcut!: string;
}

// PATCH /chat/admin/canned-responses/:id
export class UpdateCannedResponseDto {
  @IsOptional() @IsString() @Length(1, 100) title?: string;
  @IsOptional() @IsString() @Length(1, 4000) text?: string;
  @IsOptional() @IsString() @Matches(SHORTCUT, { message: SHORTCUT_MESSAGE }) shortcut?: string;
}
