import { ApiProperty } from '@nestjs/swagger';
import { IsString, Length } from 'class-validator';

// POST /chat/admin/sessions/:id/notes
export class CreateNoteDto {
  @ApiProperty({ minLength: 1, maxLength: 4000 }) @IsString() @Length(1, 4000) text!: string;
}

// NotesService's NoteView
export class NoteDto {
  @ApiProperty() id!: string;
  @ApiProperty() session_id!: string;
  @ApiProperty() admin_id!: string;
  @ApiProperty({ type: String, nullable: true }) admin_name!: string | null;
  @ApiProperty({ description: 'decrypted text' }) text!: string;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
}
