import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Query, Res } from '@nestjs/common';
import type { Response } from 'express';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { SessionExportDto, SessionUpdateDto } from './dto/session-update.dto';
import { HistoryService } from './history.service';
import { toMarkdown } from './session-export';

// Export (owner or admin), rename/archive and soft delete (owner) of one session; others get 404.
@Controller('chat/sessions/:id')
export class HistoryController {
  constructor(private readonly history: HistoryService) {}

  @Get('export')
  async export(
    @CurrentPrincipal() principal: Principal,
    @Param('id') id: string,
    @Query() query: SessionExportDto,
    @Res({ passthrough: true }) response: Response,
  ) {
    const data = await this.history.export(id, principal);
    const markdown = query.format !== 'json';
    response.setHeader(
      'content-disposition',
      `attachment; filename="chat-${id.replace(/[^\w-]/g, '')}.${markdown ? 'md' : 'json'}"`,
    );
    if (!markdown) return data;
    response.type('text/markdown; charset=utf-8');
    return toMarkdown(data);
  }

  @Patch()
  update(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: SessionUpdateDto) {
    return this.history.update(id, principal.userId, body);
  }

  @Delete()
  @HttpCode(204)
  delete(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.history.delete(id, principal.userId);
  }
}
