import { ApiProperty, ApiPropertyOptional } from '@nestjs/swagger';

// OpenAPI shapes of the history routes' answers (session-export.ts, HistoryService.update).
export class ExportLinkDto {
  @ApiProperty({ example: 'invoice.pdf' }) name!: string;
  @ApiProperty({
    description:
      'signed for this export only, for the owner or the assisting admin; for any other reader the stable /chat/files/:file_id link (same access rule)',
  })
  url!: string;
  @ApiPropertyOptional({
    format: 'date-time',
    description: 'when the signed link expires (signed links only)',
  })
  expires_at?: string;
}

export class ExportedMessageDto {
  @ApiProperty() id!: string;
  @ApiProperty({ example: 'user_message' }) type!: string;
  @ApiProperty({ enum: ['user', 'ai', 'admin', 'system'] }) sender!: string;
  @ApiProperty({ format: 'date-time' }) timestamp!: string;
  @ApiPropertyOptional() content?: string;
  @ApiPropertyOptional() model_id?: string;
  @ApiPropertyOptional({ type: ExportLinkDto }) attachment?: ExportLinkDto;
  @ApiPropertyOptional({
    type: [ExportLinkDto],
    description: "files a reply brought: a kept one's link, or the vendor's link as given",
  })
  attachments?: ExportLinkDto[];
  @ApiPropertyOptional({ description: 'a later version of an edited message' }) edited?: boolean;
}

export class SessionExportViewDto {
  @ApiProperty() id!: string;
  @ApiProperty() name!: string;
  @ApiProperty() user_id!: string;
  @ApiProperty() model_id!: string;
  @ApiProperty({ format: 'date-time' }) start_time!: string;
  @ApiProperty({ format: 'date-time', type: String, nullable: true }) end_time!: string | null;
  @ApiProperty({ format: 'date-time' }) exported_at!: string;
  @ApiProperty({ type: [ExportedMessageDto], description: 'the conversation as it is now, in order' })
  messages!: ExportedMessageDto[];
}

export class SessionUpdatedDto {
  @ApiProperty() id!: string;
  @ApiPropertyOptional({ description: 'when renamed' }) name?: string;
  @ApiPropertyOptional({ description: 'when archived or unarchived' }) archived?: boolean;
}
