import { Controller, Get, HttpCode, Param, Post, Query, Req, Res } from '@nestjs/common';
import {
  ApiBearerAuth,
  ApiBody,
  ApiConsumes,
  ApiCreatedResponse,
  ApiFoundResponse,
  ApiOkResponse,
  ApiQuery,
  ApiTags,
} from '@nestjs/swagger';
import type { Request, Response } from 'express';
import { CurrentPrincipal } from '../../common/auth/auth.decorators';
import type { Principal } from '../../common/auth/principal';
import { ApiErrors } from '../../common/errors/api-errors.decorator';
import { dropRefusedBody } from '../../common/http/request-body';
import { SignedLinkDto, UploadBodyDto, UploadViewDto } from './dto/upload-responses.dto';
import { FilesService } from './files.service';
import { UploadsService } from './uploads.service';

@Controller('chat')
@ApiTags('files')
@ApiBearerAuth()
@ApiErrors(401)
export class UploadsController {
  constructor(
    private readonly uploads: UploadsService,
    private readonly files: FilesService,
  ) {}

  // multipart field `file` → {file_id, file_url, name, size, mime_type}; 413, 415, 422, 429, 503
  @Post('uploads')
  @ApiConsumes('multipart/form-data')
  @ApiBody({ type: UploadBodyDto })
  @ApiCreatedResponse({ type: UploadViewDto, description: 'stored and scanned clean' })
  @ApiErrors(
    [400, 'INVALID_MESSAGE: not multipart/form-data with a part "file", or no byte came for 60 s'],
    413,
    415,
    422,
    429,
    [500, 'INTERNAL: storage failed, or the upload took too long and was dropped (send it again)'],
    503,
  )
  @HttpCode(201)
  async upload(
    @CurrentPrincipal() principal: Principal,
    @Req() request: Request,
    @Res({ passthrough: true }) response: Response,
  ) {
    try {
      return await this.uploads.upload(principal, request);
    } catch (error) {
      // the rest of a refused body (past UPLOAD_MAX_BYTES, a rate limit, a quota) is read and
      // dropped as the answer goes out: closing on a proxy still sending it made the proxy answer
      // 502 instead (src/common/http/request-body.ts, dropRefusedBody)
      dropRefusedBody(request, response);
      throw error;
    }
  }

  // 302 to a URL signed now (short expiry); ?redirect=false answers {url, expires_at} instead
  @Get('files/:file_id')
  @ApiQuery({
    name: 'redirect',
    required: false,
    enum: ['false'],
    description: 'false: answer the link as JSON',
  })
  @ApiFoundResponse({
    description: 'redirect to a URL signed now (SIGNED_URL_TTL)',
    headers: { Location: { description: 'the signed URL', schema: { type: 'string' } } },
  })
  @ApiOkResponse({ type: SignedLinkDto, description: 'with ?redirect=false' })
  // a file stored while scanning was off is scanned first once a scanner is set (LateScan)
  @ApiErrors(
    404,
    [413, 'FILE_TOO_LARGE: stored unscanned, and larger than the scanner takes'],
    [422, 'FILE_REJECTED: stored unscanned, and malware was found in it now'],
    [503, 'SCANNER_UNAVAILABLE or STORAGE_UNAVAILABLE: it could not be scanned now'],
  )
  async file(
    @CurrentPrincipal() principal: Principal,
    @Param('file_id') fileId: string,
    @Query('redirect') redirect: string | undefined,
    @Res() response: Response,
  ): Promise<void> {
    const link = await this.files.signedLink(principal, fileId);
    response.setHeader('Cache-Control', 'no-store');
    response.setHeader('Referrer-Policy', 'no-referrer');
    if (redirect === 'false') response.json(link);
    else response.redirect(302, link.url);
  }
}
