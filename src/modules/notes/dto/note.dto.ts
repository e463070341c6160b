import { IsString, Length } from 'class-validator';

// POST /chat/admin/sessions/:id/notes
export class CreateNoteDto {
  @IsString() @Length(1, 4000) text!: string;
}
