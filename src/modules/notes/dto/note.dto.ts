import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';
import { IsString } from 'class-validator';
import { CodePointLength } from '../../../common/text-length';

// POST /chat/admin/sessions/:id/notes
export class CreateNoteDto {
  @ApiProperty() @IsString() @CodePointLength(1, 4000) text!: string;
}

// NotesService's NoteView
export class NoteDto {
  @ApiProperty() id!: string;
  @ApiProperty() session_id!: string;
  @ApiProperty() admin_id!: string;
  @ApiProperty({ type: String, nullable: true }) admin_name!: string | null;
  @ApiProperty({ description: 'decrypted text' }) text!: string;
  @ApiPropertyOptional({
    enum: [true],
    description: 'the text cannot be decrypted (a key no longer listed): shown empty',
  })
  unreadable?: boolean;
  @ApiProperty({ format: 'date-time' }) created_at!: string;
}
