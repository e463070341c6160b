import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Query, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiExtraModels,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
  getSchemaPath,
} from '@nestjs/swagger';
import type { Response } from 'express';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { SessionExportViewDto, SessionUpdatedDto } from './dto/history-responses.dto';
import { SessionExportDto, SessionUpdateDto } from './dto/session-update.dto';
import { HistoryService } from './history.service';
import { toMarkdown } from './session-export';
import { WholeSessionReads } from '../sessions/session-reads';

// Export (owner or admin), rename/archive and soft delete (owner) of one session; others get 404.
@Controller('chat/sessions/:id')
@ApiTags('sessions')
@ApiBearerAuth()
@ApiErrors(400, 401, 404)
@ApiExtraModels(SessionExportViewDto)
export class HistoryController {
  constructor(private readonly history: HistoryService) {}

  @Get('export')
  @WholeSessionReads()
  @ApiErrors(429)
  @ApiOkResponse({
    description: 'the conversation as it is now, as a download (Content-Disposition: attachment)',
    headers: { 'Content-Disposition': { schema: { type: 'string' } } },
    content: {
      'text/markdown': { schema: { type: 'string' } },
      'application/json': { schema: { $ref: getSchemaPath(SessionExportViewDto) } },
    },
  })
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
  @ApiOkResponse({ type: SessionUpdatedDto, description: 'what changed (owner only)' })
  @ApiErrors(
    [400, 'INVALID_MESSAGE: a bad field, or neither name nor archived'],
    [415, 'UNSUPPORTED_MEDIA_TYPE: the body is not application/json'],
  )
  update(@CurrentPrincipal() principal: Principal, @Param('id') id: string, @Body() body: SessionUpdateDto) {
    return this.history.update(id, principal.userId, body);
  }

  @Delete()
  @ApiNoContentResponse({ description: 'soft deleted (owner only)' })
  @HttpCode(204)
  delete(@CurrentPrincipal() principal: Principal, @Param('id') id: string) {
    return this.history.delete(id, principal);
  }
}
