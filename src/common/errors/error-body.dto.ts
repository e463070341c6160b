import { ApiProperty } from '@nestjs/swagger';
import { ErrorCode } from './error-code';

// The body of every HTTP error (HttpExceptionFilter), for the OpenAPI document.
export class ErrorDetailDto {
  @ApiProperty({ enum: Object.values(ErrorCode), example: 'NOT_FOUND' }) code!: string;
  @ApiProperty({ description: 'safe, generic text (never a stack or an internal detail)' }) message!: string;
}

export class ErrorBodyDto {
  @ApiProperty({ type: ErrorDetailDto }) error!: ErrorDetailDto;
}
