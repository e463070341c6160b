import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiCreatedResponse,
  ApiNoContentResponse,
  ApiOkResponse,
  ApiTags,
} from '@nestjs/swagger';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import type { CannedResponseRecord } from './canned-responses.repository';
import { CannedResponsesService } from './canned-responses.service';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import {
  CannedResponseDto,
  CreateCannedResponseDto,
  UpdateCannedResponseDto,
} from './dto/canned-response.dto';

@Controller('chat/admin/canned-responses')
@AdminOnly()
@ApiTags('admin')
@ApiBearerAuth()
@ApiErrors(401, 403)
export class CannedResponsesController {
  constructor(private readonly canned: CannedResponsesService) {}

  @Get()
  @ApiOkResponse({ type: [CannedResponseDto], description: 'every canned response, by shortcut' })
  async list() {
    return (await this.canned.list()).map(view);
  }

  @Post()
  @ApiCreatedResponse({ type: CannedResponseDto })
  @ApiErrors(400, [409, 'ALREADY_EXISTS: the shortcut is taken'])
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateCannedResponseDto) {
    return view(await this.canned.create(body, principal.userId));
  }

  @Patch(':id')
  @ApiOkResponse({ type: CannedResponseDto })
  @ApiErrors(400, 404, [409, 'ALREADY_EXISTS: the shortcut is taken'])
  async update(@Param('id') id: string, @Body() body: UpdateCannedResponseDto) {
    return view(await this.canned.update(id, body));
  }

  @Delete(':id')
  @ApiNoContentResponse({ description: 'deleted' })
  @ApiErrors(404)
  @HttpCode(204)
  delete(@Param('id') id: string) {
    return this.canned.delete(id);
  }
}

function view(record: CannedResponseRecord) {
  return { ...record, updated_at: record.updated_at.toISOString() };
}
