import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { CreateNoteDto } from './dto/note.dto';
import { NotesService } from './notes.service';

@Controller('chat/admin/sessions/:id/notes')
@AdminOnly()
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Get()
  list(@Param('id') id: string) {
    return this.notes.list(id);
  }

  @Post()
  add(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: CreateNoteDto) {
    return this.notes.add(id, principal, body.text);
  }
}
