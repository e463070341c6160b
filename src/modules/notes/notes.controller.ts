import { Body, Controller, Get, Param, Post } from '@nestjs/common';
import { ApiBearerAuth, ApiCreatedResponse, ApiOkResponse, ApiTags } from '@nestjs/swagger';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { CreateNoteDto, NoteDto } from './dto/note.dto';
import { NotesService } from './notes.service';

@Controller('chat/admin/sessions/:id/notes')
@AdminOnly()
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrors(401, 403)
export class NotesController {
  constructor(private readonly notes: NotesService) {}

  @Get()
  @ApiOkResponse({ type: [NoteDto], description: "the session's internal notes, oldest first" })
  list(@Param('id') id: string) {
    return this.notes.list(id);
  }

  @Post()
  @ApiCreatedResponse({ type: NoteDto, description: 'the note added (admins only ever see notes)' })
  @ApiErrors(400, 404)
  add(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: CreateNoteDto) {
    return this.notes.add(id, principal, body.text);
  }
}
