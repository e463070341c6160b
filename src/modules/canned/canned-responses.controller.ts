import { Body, Controller, Delete, Get, HttpCode, Param, Patch, Post } from '@nestjs/common';
import { AdminOnly, CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import type { CannedResponseRecord } from './canned-responses.repository';
import { CannedResponsesService } from './canned-responses.service';
import { CreateCannedResponseDto, UpdateCannedResponseDto } from './dto/canned-response.dto';

@Controller('chat/admin/canned-responses')
@AdminOnly()
export class CannedResponsesController {
  constructor(private readonly canned: CannedResponsesService) {}

  @Get()
  async list() {
    return (await this.canned.list()).map(view);
  }

  @Post()
  async create(@CurrentPrincipal() principal: Principal, @Body() body: CreateCannedResponseDto) {
    return view(await this.canned.create(body, principal.userId));
  }

  @Patch(':id')
  async update(@Param('id') id: string, @Body() body: UpdateCannedResponseDto) {
    return view(await this.canned.update(id, body));
  }

  @Delete(':id')
  @HttpCode(204)
  delete(@Param('id') id: string) {
    return this.canned.delete(id);
  }
}

function view(record: CannedResponseRecord) {
  return { ...record, updated_at: record.updated_at.toISOString() };
}
